#!/bin/sh
# Remove what the appliance never runs from the installed packages (SITE_PACKAGES):
# numpy's and scipy's test suites, headers, type stubs and build helpers, and the scipy
# subpackages nothing of the appliance imports (scipy.stats does not need them). They
# are more than half of scipy's size; the image's size limit is in
# tests/container/test_containers.py. The build then runs appliance/compare/selfcheck.py,
# which fails the build if something that is used went.
set -eu
site=$1
cd "$site"
find numpy scipy -depth -type d \( -name tests -o -name testing -a -path 'scipy/*' \) \
    -exec rm -rf {} +
find numpy scipy -type f \( -name '*.pyi' -o -name '*.pxd' -o -name '*.pyx' -o -name '*.c' \
    -o -name '*.h' -o -name '*.f' -o -name '*.f90' -o -name 'conftest.py' \) -delete
rm -rf numpy/_core/include numpy/_core/lib/pkgconfig numpy/doc numpy/distutils \
       numpy/_pyinstaller numpy/random/_examples
for unused in cluster datasets fftpack io misc odr signal; do rm -rf "scipy/$unused"; done
