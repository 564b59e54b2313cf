"""The assembler's independent oracle: dump folders and the ELF a correct assembler builds.

Written from the formats alone (each module's docstring states the layout it builds), with
plain ``struct`` and the standard library; nothing here imports qdlpy (``tests/oracle/ruff.toml``
enforces it), so a bug in qdlpy's ELF code cannot hide in both the fixture and the result.

* :mod:`.elf64`: ELF64 little-endian packing (headers, program/section headers, notes).
* :mod:`.kelf`: the kmemdump / meminspect core-image header region, byte for byte.
* :mod:`.naming`: the names boot firmware gives kernel regions (``md_K<name><id>``).
* :mod:`.folder`: a dump folder on disk: region files plus manifest.json, dump_info.txt
  and/or load.cmm, written with plain string formatting.
* :mod:`.kmemdump`: synthetic kmemdump region sets (arm64, x86_64) with the damage a real
  dump shows, and the expected assembled ELF for each.
* :mod:`.downstream`: a downstream ``md_KELF_HEADER`` (section-based) set and its ELF.
* :mod:`.extras`: non-kernel table items (another subsystem, firmware MD_ items, full dump).

The real-kernel tier (tests/e2e/generator) builds its KELF header and folders with the same
:mod:`.kelf`, :mod:`.naming` and :mod:`.folder`.
"""
