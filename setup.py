"""keras-sr: single-image super-resolution for TensorFlow / Keras 3."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="keras-sr",
    version="0.1.0",
    description=(
        "Single-image super-resolution for TensorFlow/Keras 3: MATLAB-exact "
        "evaluation, model zoo, TFRecord pipelines, TFLite/ONNX/TPU export."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["keras_sr*", "tfrecords_tools*", "export*"]),
    package_data={"keras_sr": ["assets/*", "assets/**/*", "pretrained/*"]},
    include_package_data=True,
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<3.16",
        "numpy>=1.26,<3",
        "pillow>=10.0,<13",
        "tqdm>=4.66,<5",
        "pyyaml>=6.0,<7",
        "tensorboard>=2.21,<2.22",
    ],
    extras_require={
        "export": [
            "tf2onnx>=1.17,<1.18",
            "onnx>=1.17,<1.24",
            "onnxruntime>=1.20,<1.32",
            "ai-edge-litert>=2.3,<2.4",
        ],
        "dev": [
            "pytest>=8.0,<10",
            "ruff>=0.6,<1",
        ],
    },
    entry_points={
        "console_scripts": [
            "keras-sr=keras_sr.cli.main:main",
            "sr-tfrecords=tfrecords_tools.cli:main",
        ]
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Image Processing",
    ],
)
