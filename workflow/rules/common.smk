# Functions shared by the files of rules, which hold only rules (snakemake --lint). What a table's
# jobs depend on (the repr of every config value that decides a job's result, as a Snakemake param,
# so that a change reruns exactly those jobs; the files a job reads) is in its package:
# iss_harness.tables.<table>.jobs.


# --- the report --------------------------------------------------------------------------------


def report_inputs(wildcards):
    """Evaluated once every rule file is read, so rules included after this file count too."""
    files = []
    for name in REPORT_SOURCES:
        if workflow.is_rule(name):
            files.extend(str(path) for path in workflow.get_rule(name).output)
    return files


def results_if_run(wildcards):
    """The results files of the compared experiments outside the default run that exist (a changed
    one reruns the comparison; a missing one is not made)."""
    return [path for path in (f"{RESULTS}/{table}.csv" for table in COMPARED_IF_RUN) if os.path.exists(path)]
