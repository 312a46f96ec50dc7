from setuptools import find_packages, setup

setup(
    name="tfgen",
    version="0.1.0",
    description="Deep latent-variable generative models for Keras 3 (VAE, IWAE, VRNN, LagVAE, ...)",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tfgen", "tfgen.*", "zoo", "zoo.*"]),
    include_package_data=True,
    package_data={"zoo": ["presets/*/*"]},
    install_requires=[
        # TF 2.21's Linux wheel runs on CPU; GPU users add `tensorflow[and-cuda]==2.21.0`.
        "tensorflow==2.21.0",
        "tensorboard==2.21.0",
        "keras==3.15.1",
        "tensorflow-probability==0.25.0",
        "tf-keras==2.21.0",  # imported by tensorflow-probability
        "tensorflow-datasets==4.9.10",
        "importlib_resources>=6",  # needed by tensorflow-datasets to download
        "keras-tuner==1.4.8",
        "numpy>=1.26,<3",
        "scipy>=1.11",
        "scikit-learn>=1.3",
        "matplotlib>=3.8",
    ],
    extras_require={
        # hypothesis: tests/zoo/test_fuzz.py draws malformed arrays, configs and flags.
        "dev": ["pytest==9.2.0", "ruff==0.17.6", "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6",
                "hypothesis==6.170.15"],
        # benchmarks/: the PyTorch implementation timed next to ours (python -m benchmarks.run).
        "bench": ["torch==2.13.0"],
    },
    entry_points={"console_scripts": ["tfgen=zoo.cli:main"]},
)
