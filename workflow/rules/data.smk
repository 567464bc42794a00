# Every data set the workflow reads, verified (sha256, or md5 then a sha256 lock): from a config path,
# the mirror (config data.mirror or ISS_DATA_MIRROR) or downloaded. `iss fetch-data` does the work.
DATA_DIR = config["data"]["dir"]


wildcard_constraints:
    glove_dim="[0-9]+",


rule fetch_ptb:
    output:
        expand("{dir}/ptb/ptb.{split}.txt", dir=DATA_DIR, split=["train", "valid", "test"]),
    log:
        f"{RESULTS}/logs/fetch_ptb.log",
    conda:
        CONDA_ENV
    shell:
        "iss fetch-data ptb > {log} 2>&1"


rule fetch_squad_dev:
    output:
        f"{DATA_DIR}/squad/dev-v1.1.json",
    log:
        f"{RESULTS}/logs/fetch_squad_dev.log",
    conda:
        CONDA_ENV
    shell:
        "iss fetch-data squad --file dev-v1.1.json > {log} 2>&1"


# Known by md5 only (paper scale): from table3.data.train_file, the mirror or a download, then pinned
# by resources/data/squad/train-v1.1.json.sha256.lock.
rule fetch_squad_train:
    output:
        f"{DATA_DIR}/squad/train-v1.1.json",
    log:
        f"{RESULTS}/logs/fetch_squad_train.log",
    conda:
        CONDA_ENV
    shell:
        "iss fetch-data squad --file train-v1.1.json > {log} 2>&1 || (cat {log}; exit 1)"


# glove.6B.100d.txt (paper scale): from table3.glove.file, the mirror or glove.6B.zip (downloaded,
# md5-checked, only that member extracted); 50d from the sha256 registry (mirror).
rule fetch_glove:
    output:
        f"{DATA_DIR}/glove/glove.6B.{{glove_dim}}d.txt",
    log:
        f"{RESULTS}/logs/fetch_glove_{{glove_dim}}d.log",
    conda:
        CONDA_ENV
    shell:
        "iss fetch-data glove --file glove.6B.{wildcards.glove_dim}d.txt > {log} 2>&1 || (cat {log}; exit 1)"
