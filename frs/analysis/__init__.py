"""The analysis after collection: measures over each school's cohort, comparisons with all schools
and national figures, stored results and the early PDF summary (docs/analysis.md).

- :mod:`frs.analysis.engine`: pure functions over collected cohorts (measures, groups, what if,
  comparisons, canonical JSON);
- :mod:`frs.analysis.national`: published national figures and the operator's CSV format;
- :mod:`frs.analysis.runner`: the run over a collection (worker processes, stored results, PDFs);
- :mod:`frs.analysis.service`: a school's stored report, PDF and what-if, as the pages read them;
- :mod:`frs.analysis.pdf`: the PDF summary.
"""
