"""Several training processes: trainer=ddp on 2 CPU processes (gloo) trains on the global
batches one process with twice the batch size trains on, and only rank 0 writes the run dir;
the fsdp preset builds Lightning's FSDPStrategy; loop.effective_batch_size sets accumulation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT, coding_rows, compose_config, write_jsonl
from safetensors.torch import load_file
from wandb_offline import find_offline_runs, read_offline_run

from src.errors import MedtuneError
from src.training.distributed import build_strategy, check_sweep_strategy
from src.training.resumable_loader import (
    EpochShuffleSampler,
    LengthGroupedSampler,
    ResumableLoader,
    batches_per_epoch,
)

# 40 notes: 36 train (3 global batches of 16, the last of 4) and 4 val. No dropout anywhere
# (the tiny BERT's own is off by the minilm config): the runs' random draws cannot differ.
TRAIN_NOTES, EPOCHS = 36, 2
ADAPTER = "adapter/adapter_model.safetensors"


def overrides(folder: Path, model: Path, *extra: str) -> list[str]:
    return [
        f"model.name_or_path={model}",
        f"data.path={folder / 'train.jsonl'}",
        f"data.eval_path={folder / 'eval.jsonl'}",
        *("data.train_size=null", "model.max_length=32", f"trainer.max_epochs={EPOCHS}"),
        *("lora.dropout=0", "model.classifier_dropout=0", "trainer.log_every_n_steps=1"),
        *extra,
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_bert) -> SimpleNamespace:
    """The DDP run (`python -m src.train`, W&B offline) and, while it runs, its one-process
    reference in this process (the same stages; a second interpreter would cost 2 cores ~15 s)."""
    from src.train import train

    folder = tmp_path_factory.mktemp("ddp")
    write_jsonl(folder / "train.jsonl", coding_rows(40, "t"))
    write_jsonl(folder / "eval.jsonl", coding_rows(16, "e"))
    log = folder / "ddp.log"  # a file, not a pipe, which would stall the run while this one trains
    with log.open("w") as out:
        ddp = subprocess.Popen(
            [
                *(sys.executable, "-m", "src.train", f"hydra.run.dir={folder / 'ddp'}"),
                *overrides(folder, tiny_bert, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"),
            ],
            cwd=ROOT,
            env={**os.environ, "MEDTUNE_CACHE_DIR": str(folder / "cache"), "WANDB_DIR": str(folder)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        cache = f"paths.cache_dir={folder / 'cache-single'}"
        cfg = compose_config(*overrides(folder, tiny_bert, "loop.batch_size=16", "logger=none", cache))
        single = train(cfg, folder / "single")
        ddp.wait(timeout=600)
    assert ddp.returncode == 0, log.read_text()[-3000:]
    adapter = folder / "single" / ADAPTER
    return SimpleNamespace(ddp=folder / "ddp", single=single, adapter=adapter, output=log.read_text())


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_both_ranks_trained_their_half_of_every_global_batch(runs):
    ranks = metrics(runs.ddp)["ranks"]
    per_rank = {"batches": 3 * EPOCHS, "examples": TRAIN_NOTES // 2 * EPOCHS}
    assert [{k: r[k] for k in ("rank", "batches", "examples")} for r in ranks] == [
        {"rank": 0, **per_rank},
        {"rank": 1, **per_rank},
    ]
    (alone,) = runs.single["ranks"]
    assert alone["examples"] == TRAIN_NOTES * EPOCHS
    assert sum(r["tokens"] for r in ranks) == alone["tokens"]  # the same notes, split in two
    assert metrics(runs.ddp)["timing"]["effective_batch_size"] == 16


def test_ddp_equals_one_process_with_twice_the_batch(runs):
    ddp, single = metrics(runs.ddp), runs.single
    assert ddp["tuned"] == pytest.approx(single["tuned"], abs=1e-6)
    assert ddp["validation"] == pytest.approx(single["validation"], abs=1e-6)
    a, b = load_file(runs.ddp / ADAPTER), load_file(runs.adapter)
    assert a.keys() == b.keys()
    # Only float summation order differs (gradients averaged over 2 ranks); measured 4e-8.
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6


def test_rank_zero_alone_writes_the_run_dir_and_the_wandb_run(runs):
    # Rank 0's outputs, W&B's folder, and Hydra's log of rank 1 (Lightning names that job
    # train_ddp_process_1): rank 1 writes nothing else.
    outputs = {".hydra", "adapter", "metrics.json", "manifest.json", "MODEL_CARD.md", "status.json", "wandb"}
    outputs |= {"errors.md", "errors.json", "reliability.png"}  # the coding task's own reports
    logs = {"train.log", "train_ddp_process_1.log"}
    assert {p.name for p in runs.ddp.iterdir()} == outputs | logs
    assert {p.name for p in (runs.ddp / ".hydra").iterdir()} == {
        *("config.yaml", "hydra.yaml", "overrides.yaml", "resolved.yaml")
    }
    assert json.loads((runs.ddp / "status.json").read_text())["status"] == "complete"
    (offline,) = find_offline_runs(runs.ddp)
    run = read_offline_run(offline)
    assert run.summary["tuned/micro_f1"] == pytest.approx(metrics(runs.ddp)["tuned"]["micro_f1"])
    assert any("val/micro_f1" in row for row in run.history)
    # Rank 1 prints nothing of its own: every message once.
    assert runs.output.count("medtune-metric tuned/micro_f1=") == 1
    assert runs.output.count("frozen-layer cache:") == 1


# -- the sampler's shares ------------------------------------------------------------------
def rank_batches(make, world: int, batch: int) -> list[list[list[int]]]:
    """Per rank, its batches of one epoch, as the loader cuts its sampler's stream."""
    out = []
    for rank in range(world):
        order = list(make(rank, world, batch))
        out.append([order[i : i + batch] for i in range(0, len(order), batch)])
    return out


@pytest.mark.parametrize("size", [36, 32, 35, 33, 5])
@pytest.mark.parametrize("grouped", [False, True])
def test_ranks_share_the_global_batches_of_one_process(size, grouped):
    lengths = [(i * 37) % 50 for i in range(size)]

    def make(rank: int, world: int, batch: int):
        if grouped:
            return LengthGroupedSampler(lengths, 7, batch, group_size=2, rank=rank, world_size=world)
        return EpochShuffleSampler(size, 7, batch, rank=rank, world_size=world)

    (alone,) = rank_batches(make, 1, 8)
    shares = rank_batches(make, 4, 2)
    assert all(len(batches) == len(alone) == batches_per_epoch(size, 2, 4) for batches in shares)
    for step, global_batch in enumerate(alone):
        parts = [batches[step] for batches in shares]
        if len(global_batch) >= 4:  # full, or split evenly: ranks differ by one example at most
            assert sum(parts, []) == global_batch
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
        else:  # fewer examples than ranks: the ranks without one repeat its first
            assert sum(parts, []) == global_batch + global_batch[:1] * (4 - len(global_batch))
    for rank, batches in enumerate(shares):
        assert len(make(rank, 4, 2)) == sum(map(len, batches))


def test_a_resumed_rank_continues_with_its_own_next_batch():
    rows = [{"x": i} for i in range(30)]
    loaders = [
        ResumableLoader(rows, batch_size=3, seed=1, rank=r, world_size=2, collate_fn=list) for r in (0, 1)
    ]
    full = [[batch for batch in loader] for loader in loaders]
    for rank, loader in enumerate(loaders):
        loader.load_state_dict({"epoch": 0, "batches_done": 2})
        assert [batch for batch in loader] == full[rank][2:]


# -- presets, keys and the setups refused --------------------------------------------------
def test_fsdp_preset_builds_a_strategy_sharding_by_transformer_layer(tiny_bert):
    from lightning.pytorch.strategies import FSDPStrategy
    from torch.distributed.fsdp import ShardingStrategy
    from transformers import AutoModel
    from transformers.models.bert.modeling_bert import BertEmbeddings, BertLayer

    cfg = compose_config("trainer=fsdp")
    assert (cfg.trainer.accelerator, cfg.trainer.devices, cfg.trainer.num_nodes) == ("gpu", 2, 1)
    strategy = build_strategy(cfg, torch.nn.Sequential(AutoModel.from_pretrained(tiny_bert)))
    assert isinstance(strategy, FSDPStrategy)
    assert strategy.sharding_strategy == ShardingStrategy.FULL_SHARD
    assert strategy.kwargs["auto_wrap_policy"]._module_classes == {BertLayer, BertEmbeddings}
    assert strategy.kwargs["use_orig_params"]  # LoRA: trained and frozen weights share a shard
    assert build_strategy(compose_config("trainer=ddp"), torch.nn.Linear(1, 1)) == "ddp"
    with pytest.raises(MedtuneError, match="trainer.strategy=fsdp runs on GPUs only"):
        compose_config("trainer=fsdp", "trainer.accelerator=cpu")
    with pytest.raises(MedtuneError, match="trainer.strategy='dpp' is not a Lightning strategy"):
        compose_config("trainer.strategy=dpp")


def test_fsdp_gathers_the_trained_model_into_a_fresh_copy_for_rank_zero(tiny_bert):
    """What rank 0 evaluates and saves after FSDP training: the full state FSDP gathers (faked
    here: FSDP needs GPUs) loaded into a fresh model."""
    from lightning.pytorch.strategies import FSDPStrategy

    from src.models import build
    from src.training.distributed import whole_model

    cfg = compose_config(f"model.name_or_path={tiny_bert}", "trainer=fsdp")

    def new_model() -> torch.nn.Module:
        encoder = build.load_encoder(cfg.model)
        return build.wrap_with_lora(build.classifier_base(encoder, 3, cfg.model), cfg.lora)

    trained = new_model()
    with torch.no_grad():
        for p in trained.parameters():
            if p.requires_grad:
                p.add_(1.0)
    trained.get_base_model().frozen_layers = 1
    strategy = FSDPStrategy()
    full = {f"model.{k}": v for k, v in trained.state_dict().items()} | {"_extra_state": {}}
    strategy.lightning_module_state_dict = lambda: full
    trainer = SimpleNamespace(strategy=strategy, is_global_zero=True)
    whole = whole_model(trainer, SimpleNamespace(build_model=lambda data: new_model()), None, trained)
    assert whole is not trained and whole.get_base_model().frozen_layers == 1
    expected = trained.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in whole.state_dict().items())


@pytest.mark.parametrize(
    ("overrides", "accumulate"),
    [
        (["loop.effective_batch_size=64"], 8),  # 64 / (8 x 1 device)
        (["trainer=ddp", "loop.effective_batch_size=64"], 4),  # / (8 x 2 devices)
        (["trainer=ddp", "trainer.num_nodes=2", "loop.effective_batch_size=64"], 2),
        (["trainer=ddp", "trainer.devices=[0,1,2,3]", "loop.effective_batch_size=32"], 1),
        (["trainer.accumulate_grad_batches=3"], 3),  # no effective_batch_size: as given
    ],
)
def test_effective_batch_size_sets_gradient_accumulation(overrides, accumulate):
    assert compose_config(*overrides).trainer.accumulate_grad_batches == accumulate


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["trainer=ddp", "loop.effective_batch_size=24"],
            r"loop.effective_batch_size=24 is not a multiple of loop.batch_size \(8\) x "
            r"trainer.devices \(2\) x trainer.num_nodes \(1\) = 16",
        ),
        (["trainer.devices=auto", "loop.effective_batch_size=16"], "needs trainer.devices as a number"),
        (
            ["trainer.accumulate_grad_batches=4", "loop.effective_batch_size=16"],
            "trainer.accumulate_grad_batches=4 contradicts loop.effective_batch_size=16",
        ),
    ],
)
def test_effective_batch_size_errors_name_the_keys(overrides, message):
    with pytest.raises(MedtuneError, match=message):
        compose_config(*overrides)


def test_relaunching_strategies_are_refused_in_a_multirun(monkeypatch):
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    with pytest.raises(MedtuneError, match="Use trainer.strategy=ddp_spawn"):
        check_sweep_strategy(compose_config("trainer=ddp").trainer)
    check_sweep_strategy(compose_config("trainer=ddp", "trainer.strategy=ddp_spawn").trainer)
    check_sweep_strategy(compose_config("trainer=ddp", "trainer.devices=1").trainer)
    monkeypatch.setenv("SLURM_NTASKS", "2")  # hydra/launcher=slurm: SLURM starts both ranks
    check_sweep_strategy(compose_config("trainer=ddp").trainer)


@pytest.mark.parametrize(
    ("env", "zero"),
    [
        ({}, True),
        ({"LOCAL_RANK": "1"}, False),  # started by Lightning's DDP launcher
        ({"NODE_RANK": "1"}, False),  # the first process of the second node
        ({"RANK": "0", "LOCAL_RANK": "0"}, True),  # torchrun
        ({"RANK": "3", "LOCAL_RANK": "1"}, False),
        ({"SLURM_PROCID": "1", "SLURM_LOCALID": "1"}, False),
    ],
)
def test_rank_zero_is_read_from_the_launchers_environment(monkeypatch, env, zero):
    from src.ranks import RANK_VARIABLES, is_rank_zero

    for name in RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert is_rank_zero() is zero


def test_slurm_launcher_asks_for_one_task_per_device_on_each_node():
    from hydra import compose, initialize_config_dir

    from src.paths import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        overrides = ["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"]
        launcher = compose("config", overrides, return_hydra_config=True).hydra.launcher
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (2, 4, 4)
