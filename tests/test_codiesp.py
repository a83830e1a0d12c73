"""Real coding data (CodiEsp, ../shared/data): loads through the ordinary data options.

Skipped when ../shared/data is absent; the project never copies it.
"""

import pytest
from conftest import SHARED_DATA, compose_config
from datasets import Dataset

from src.data.chunking import tokenize_chunks
from src.errors import MedtuneError
from src.models.build import load_tokenizer
from src.tasks.coding.data import load_coding_rows

CODIESP = SHARED_DATA / "codiesp"
pytestmark = pytest.mark.skipif(not CODIESP.is_dir(), reason="../shared/data/codiesp is absent")


def codiesp_config(tmp_path, *overrides):
    return compose_config(
        f"data.path={CODIESP / 'codiesp_train.jsonl'}",
        f"data.eval_path={CODIESP / 'codiesp_dev.jsonl'}",
        "data.codes_column=icd10cm",
        "data.train_size=null",
        f"paths.cache_dir={tmp_path}",
        *overrides,
    )


def test_codiesp_loads_with_invalid_codes_counted(tmp_path):
    cfg = codiesp_config(tmp_path, "data.on_invalid_code=warn")
    rows = load_coding_rows(cfg.data, cfg.paths.cache_dir)
    stats = rows.stats
    assert stats["pool_size"] == 500 and stats["n_eval"] == 250
    # Injury codes written without their 7th character fail strict validation; counted, not hidden.
    assert 0 < stats["invalid_codes_dropped"] < 500
    assert len(rows.labels) > 300  # a long tail of codes
    assert stats["eval_codes_outside_label_space"] > 0  # most dev codes are rare or unseen
    assert all(rows.descriptions[code] for code in rows.labels)


def test_codiesp_strict_validation_names_file_and_line(tmp_path):
    cfg = codiesp_config(tmp_path)
    with pytest.raises(MedtuneError, match=r"codiesp_train\.jsonl:\d+: .* not a valid ICD-10-CM"):
        load_coding_rows(cfg.data, cfg.paths.cache_dir)


def test_codiesp_notes_are_read_as_several_chunks(tmp_path):
    cfg = codiesp_config(tmp_path, "data.on_invalid_code=warn")
    rows = load_coding_rows(cfg.data, cfg.paths.cache_dir)
    tokenizer = load_tokenizer(cfg.model)
    out, stats = tokenize_chunks(
        Dataset.from_list(rows.eval),
        tokenizer,
        cfg.model.max_length,
        cfg.data.chunk_overlap,
        cfg.data.max_chunks,
        tmp_path,
        "codiesp-dev",
        rows.files,
    )
    chunks = [len(c) for c in out["chunks"]]
    assert sum(chunks) / len(chunks) > 2  # real case reports run past one 128-token window
