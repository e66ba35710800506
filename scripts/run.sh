#!/usr/bin/env bash
# The main job: installs what is missing, then starts the bot.
# With no TELEGRAM_TOKEN (or DISCORD_TOKEN) it opens the local chat in this terminal, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
exec .venv/bin/python -m bot "$@"
