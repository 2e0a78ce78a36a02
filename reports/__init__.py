"""What people read: the nightly shadow report and the cutover readiness page.

Will hold the aggregation over the diff store (done in the database), and the Jinja2 HTML, JSON and
JUnit writers. Generated output goes to `reports/out/` and Allure results to
`reports/allure-results/`; neither is committed.
"""
