"""The one native part of carbon-edge, declared so it is built at install time.

Everything else is in pyproject.toml. The extension is optional: where no C
compiler or libcrypto is present the install still succeeds, and the chain
hashes with hashlib (edge.chain.native logs that once; `carbon-edge pl info`
shows it).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "edge.chain._sha256batch",
            sources=["edge/chain/_sha256batch.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
