"""pacelib.config and the run configs built from it: coercion, validation, files, profiles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pacelib.config import DataOptions, RuntimeOptions
from pacelib.train import FinetuneConfig, PretrainConfig

REPO = Path(__file__).resolve().parents[1]


def test_paper_defaults_follow_the_released_code():
    cfg = PretrainConfig()
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay) == ("sgd", 1e-3, 0.9, 5e-3)
    assert (cfg.scheduler, cfg.step_epochs, cfg.gamma, cfg.epochs, cfg.batch_size) == ("step", 6, 0.1, 18, 30)
    assert (cfg.clip_len, cfg.resize, cfg.crop, cfg.pace, cfg.model) == (
        16,
        (128, 171),
        112,
        "baseline",
        "c3d",
    )


def test_config_coerces_yaml_and_cli_strings():
    cfg = PretrainConfig.from_dict(
        {
            "lr": "1e-3",
            "resize": [64, 80],
            "crop": "56",
            "flip": "no",
            "grad_clip": "none",
            "crop_scale": "0.5,1",
        }
    )
    assert cfg.lr == 1e-3 and cfg.resize == (64, 80) and cfg.crop == 56
    assert cfg.flip is False and cfg.grad_clip is None and cfg.crop_scale == (0.5, 1.0)


def test_unknown_config_key_is_named_with_a_suggestion():
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'lrr' \(did you mean 'lr'\?\)"):
        PretrainConfig.from_dict({"lrr": 0.1})


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("lr", "fast", "expected float"),
        ("lr", 0, "must be > 0"),
        ("optimizer", "rmsprop", "expected one of sgd, adamw"),
        ("contrastive", "both", "expected one of none, same_context, same_pace"),
        ("batch_size", 2.5, "expected int"),
        ("resize", [64], "expected 2 values"),
        ("resize", [100, 100], "smaller than crop=112"),
        ("crop_scale", [0.9, 0.5], "low <= high"),
        ("pace", "max9", "expected one of"),
        ("model", "vgg", "expected one of c3d_tiny"),
        ("momentum", 1.5, r"\[0, 1\)"),
        ("device", "tpu", "expected auto, cpu"),
        ("flip", "maybe", "expected bool"),
    ],
)
def test_bad_config_value_raises_value_error_naming_key_and_value(key, value, reason):
    with pytest.raises(ValueError, match=rf"'{key}': .*{reason}"):
        PretrainConfig.from_dict({key: value})


def test_finetune_config_checks_its_own_fields():
    with pytest.raises(ValueError, match="'labels_per_class'"):
        FinetuneConfig(labels_per_class=0)
    with pytest.raises(ValueError, match="'dropout'"):
        FinetuneConfig(dropout=1.0)
    assert FinetuneConfig().out_dir == "runs/finetune"


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_config_file_round_trip(tmp_path, suffix):
    cfg = PretrainConfig.from_profile("cpu-demo", contrastive="same_pace", seed=3)
    path = tmp_path / f"cfg{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(cfg.to_dict()))
    else:
        path.write_text(yaml.safe_dump(cfg.to_dict()))
    assert PretrainConfig.from_file(path) == cfg
    assert PretrainConfig.load(str(path)) == cfg


def test_config_file_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        PretrainConfig.from_file(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: [1, 2\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        PretrainConfig.from_file(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        PretrainConfig.from_file(listy)


@pytest.mark.parametrize("cls", [PretrainConfig, FinetuneConfig])
@pytest.mark.parametrize("profile", ["paper", "cpu-demo", "colab-gpu"])
def test_every_profile_is_a_valid_config(cls, profile):
    cfg = cls.from_profile(profile)
    assert cls.from_dict(cfg.to_dict()) == cfg


def test_cpu_demo_profile_is_the_documented_recipe():
    cfg = PretrainConfig.from_profile("cpu-demo")
    assert (cfg.model, cfg.clip_len, cfg.crop, cfg.resize) == ("c3d_tiny", 16, 56, None)
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.scheduler) == ("adamw", 2e-3, 1e-4, "cosine")
    assert cfg.warmup_steps > 0 and not cfg.flip


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_validates(path):
    cls = PretrainConfig if path.name.startswith("pretrain") else FinetuneConfig
    cfg = cls.from_file(path)
    assert cfg.optimizer == "sgd" and cfg.lr == 1e-3 and cfg.momentum == 0.9 and cfg.weight_decay == 5e-3
    assert (cfg.clip_len, cfg.crop) == ((64, 224) if cfg.model == "s3d" else (16, 112))


def test_shipped_configs_cover_the_paper_models():
    models = {PretrainConfig.from_file(p).model for p in (REPO / "configs").glob("pretrain_*.yaml")}
    assert models == {"c3d", "r3d_18", "r2plus1d_18", "s3d"}


def test_an_option_is_declared_once_and_shared_by_every_command():
    from pacelib.cli import EvalConfig

    for name in DataOptions.keys() + RuntimeOptions.keys():
        fields = {cls: cls.__dataclass_fields__[name] for cls in (PretrainConfig, FinetuneConfig, EvalConfig)}
        assert len({f.metadata["help"] for f in fields.values()}) == 1, name
        assert len({repr(f.default) for f in fields.values()}) == 1, name


def test_integers_keep_their_precision_and_floats_are_not_truncated():
    assert PretrainConfig.from_dict({"seed": "12345678901234567890"}).seed == 12345678901234567890
    assert PretrainConfig.from_dict({"epochs": 3.0}).epochs == 3
    with pytest.raises(ValueError, match="'epochs': 3.5"):
        PretrainConfig.from_dict({"epochs": 3.5})
    with pytest.raises(ValueError, match="'lr': True"):
        PretrainConfig.from_dict({"lr": True})
