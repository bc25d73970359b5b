"""Reading expenses out of chat text: the parser (amounts, numerals, dates, currency words,
pairing), the category lexicon and the category suggestion. Pure functions, no I/O."""
