"""What the project reports from its committed results: README's generated sections
(:mod:`.readme`, ``make readme`` / ``make readme-check``) and the offline teaching site
(:mod:`.book`, ``make html``), both reading the reference runs through :mod:`.reference`.

An entry point: it may import every layer, and :mod:`xcorr_lib.run` may import it.
"""
