"""Reading mail: parse (raw bytes -> ParsedMessage), mime (decoding helpers), reply_text (the new text of a
reply), classify (customer, automatic, bounce, echo), bounces (DSN reading), language (the locale).

May import: base and the other decision packages.
"""
