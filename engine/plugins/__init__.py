"""Plug-ins: the building blocks of one kind of agreement, kept out of the generic engine.

A workflow definition names the plug-ins it uses (`plugins = ["themes"]`); `registry.library(wf)` gives the
generic blocks of engine/rules.py together with theirs. A plug-in (`base.Plugin`) brings guards, effects,
conditions, vocabularies, a validation of values, a section of `show`, named read views, recipients of its
notifications, how its deadlines are named in mail and climb the ladder, and how its part of an agreement is
read from a data file and stored (its state in the agreement's row, its texts in the reference data).

- `base`: the `Plugin` type and what its hooks take and give.
- `registry`: the one registry, and the dispatch by name that the command pipeline, the views and the
  notifications use.
- `themes`: themes, sign-ups, progress reports and targets (Art. 1.1, 1.4, 3.4, 4 of the Krachtenbundeling)."""
