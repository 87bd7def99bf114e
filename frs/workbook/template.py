"""Writing a key stage's template workbook (BEING WRITTEN).

Contract: ``build_template(kernel, keystage, school, round, pupils) -> bytes`` and
``template_filename(keystage, round, school) -> str``.
"""
