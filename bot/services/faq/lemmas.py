"""How simplemma's en, ru and uk lexicons are held (the lexical channel and translit.py).

Its default backend decodes each lexicon into a dict of millions of Python bytes objects:
measured here, 20 MiB for en, 142 for ru, 75 for uk, a third of the bot's memory. The
low-memory backend (`low_memory=True`, shipped with simplemma) keeps the same compressed
stream decoded on demand: 32 MiB for all three, identical lemmas (every word of the FAQ
benchmarks' sets checked), ~75 µs instead of ~11 µs per word not seen before, which
`_lemma`'s and translit's caches pay once per word. Every call must pass the same flag:
the two backends are separate caches, and one call without it loads the full lexicon.
"""

LEMMA_LOW_MEMORY = True
