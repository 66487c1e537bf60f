"""Print the appliance's dependencies, one a line, from pyproject.toml (their one list):
the image's dependency layer and scripts/build-image's wheelhouse both read them here, so
the dependencies install before, and apart from, the appliance's own code.

    python3 containers/requirements.py [PYPROJECT]           the run-time dependencies
    python3 containers/requirements.py --build [PYPROJECT]   what building the appliance's
                                                             wheel needs (setuptools, wheel)
"""
import sys
import tomllib

args = sys.argv[1:]
build = "--build" in args
args = [a for a in args if a != "--build"]
with open(args[0] if args else "pyproject.toml", "rb") as handle:
    project = tomllib.load(handle)
if build:
    # setuptools before 70.1 builds wheels only with the `wheel` package installed.
    print("\n".join([*project["build-system"]["requires"], "wheel"]))
else:
    print("\n".join(project["project"]["dependencies"]))
