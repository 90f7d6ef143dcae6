"""``wess serve``: the JSON API (and, later, the pages) over ``wess_core.service``.

A plugin of its own, registered through the ``wess`` entry-point group like the
emulator's commands, so ``wess --help`` imports no web framework.
"""
