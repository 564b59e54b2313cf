"""File formats of a dump folder and of an ELF core, shared by pull, assemble and the simulator.

A leaf package: it imports only the standard library and :mod:`qdlpy.errors`, so the
assembler (``qdlpy.assemble``), the pull engine (``qdlpy.dump``) and the simulated device
(``qdlpy.simulator``) use the same readers and writers without depending on each other.

* :mod:`.elf`: ELF64 little-endian structures, bounded parsing, building, notes.
* :mod:`.coreimage`: the kmemdump / meminspect core-image header layout and its notes.
* :mod:`.entries`: one region as an address file describes it; helpers the readers share.
* :mod:`.manifest`: ``manifest.json`` (schema ``qdlpy.pull/2``), written by ``qdlpy pull``.
* :mod:`.dumpinfo`: ``dump_info.txt`` (QPST/PCAT style table listing).
* :mod:`.loadcmm`: ``load.cmm`` (the T32 script boot firmware appends to the table).
* :mod:`.addresses`: which of those files gives a folder's addresses (one precedence).
"""
