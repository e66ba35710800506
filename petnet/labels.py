"""The explicit label encoding: the output neuron says "gato" at 0.5 or above, as in the thread.

Never derived from folder names or alphabetical order.
"""

from __future__ import annotations

DOG = 0
CAT = 1
CLASS_NAMES = {DOG: "cachorro", CAT: "gato"}  # the JSON/CLI label of each class
NEITHER = "nenhum"  # the CLI label for photos that are neither (see the "neither" detector)
NEITHER_CODE = 2  # the code of the third answer, for arrays of answers (stored features, the retrain gate)
ANSWER_NAMES = {**CLASS_NAMES, NEITHER_CODE: NEITHER}

# Folder names the trainer accepts for each class (compared case-insensitively).
FOLDER_ALIASES = {
    CAT: ("gatos", "gato", "cats", "cat"),
    DOG: ("cachorros", "cachorro", "dogs", "dog", "caes", "cães"),
}
