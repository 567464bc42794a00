# Data sets, verified by sha256: from the mirror (config data.mirror or ISS_DATA_MIRROR) or downloaded.


rule fetch_ptb:
    output:
        expand("{dir}/ptb/ptb.{split}.txt", dir=config["data"]["dir"], split=["train", "valid", "test"]),
    log:
        f"{RESULTS}/logs/fetch_ptb.log",
    shell:
        "{ISS} fetch-data ptb > {log} 2>&1"
