"""The native parts of carbon-edge, declared so they are built at install time.

Everything else is in pyproject.toml. Every extension is optional: where no
C compiler (or libcrypto) is present the install still succeeds; the chain
then hashes with hashlib (edge.chain.native logs that once; `carbon-edge pl
info` shows it), the numpy clearing reads its columns in Python and the
sampled Owen value walks its orderings in numpy.
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
        ),
        Extension(
            "edge.market._columns",
            sources=["edge/market/_columns.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "hub.allocation._walk",
            sources=["hub/allocation/_walk.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ]
)
