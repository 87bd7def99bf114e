"""Permission and upload-status names, without the database layer (cheap to import)."""

# permissions a user holds at one school
MANAGE_DATA = "manage_data"  # upload, confirm, delete, download, see errors
SETUP = "setup"  # connect and enable the school's MIS link (Data Exchange)
MEMBER = "member"  # belongs to the school with neither right: may view its reports
PERMISSIONS = (MANAGE_DATA, SETUP, MEMBER)

# upload statuses, exactly as a school sees them
UPLOAD_ERROR = "Upload error"
AWAITING_CONFIRMATION = "Awaiting confirmation"
PROCESSING = "Processing"  # confirmed and current; reports not yet made
REPORTS_AVAILABLE = "Reports available"  # set when the reports exist (later issue)
OVERWRITTEN = "Overwritten"
DELETED = "Deleted"
STATUSES = (UPLOAD_ERROR, AWAITING_CONFIRMATION, PROCESSING, REPORTS_AVAILABLE, OVERWRITTEN, DELETED)
#: statuses hidden by ``uploads list`` unless ``--all``
HIDDEN_STATUSES = (OVERWRITTEN, DELETED)
