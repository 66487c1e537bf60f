# One package index refresh for every later step.
apt-get update -qq
