"""The demo world: a generated corpus with known concepts, a tiny LM and its GSAE, built on the
CPU, and the GSAE vs SSAE vs tilted SSAE comparison on it. It sits above the recipe's stages
(it builds the world with ``models``, ``train``'s math and ``evaluate``'s metrics) and below
``study``, ``cli`` and the pages; importing it registers the ``demo`` base source
(``models.base.register_source``), whose ``Base.data`` is the world (``data.DemoWorld``)."""

from ssae_core.demo import world
from ssae_core.models.base import register_source

register_source("demo", world.load_base)
