"""Text for a Markdown report: plain words stay plain, only what a Markdown reader would take as markup is
escaped. The HTML page escapes every string itself (``html.escape``); Markdown must not inherit those entities,
or a reader sees ``p &lt; 0.001`` where the page says ``p < 0.001``.
"""

from __future__ import annotations

import re
from typing import Any

# '<' that opens a tag, comment, declaration or autolink (a letter, '/', '!' or '?' after it), up to its '>':
# written as entities, because not every Markdown renderer honours a backslash before '<' (Python-Markdown does
# not), and raw HTML from a user's data set name must never reach a page.
TAG_LIKE = re.compile(r"<[A-Za-z/!?][^<>]*>?")
# '&' that a renderer would read as the start of an entity (&lt; &#60; &#x3c;): kept literal.
ENTITY_LIKE = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
# Markdown's own markup inside a line: table cells, emphasis, code spans, links.
MARKUP = re.compile(r"([\\|`*_\[\]])")


def md_escape(s: Any) -> str:
    """One line of Markdown text: a comparison such as ``p < 0.001`` or ``a & b`` stays as written; HTML
    markup, table breaks and accidental emphasis are escaped; a newline becomes a space.

    >>> md_escape("p < 0.001 & x > y")
    'p < 0.001 & x > y'
    >>> md_escape("<script>a|b_c</script>")
    '&lt;script&gt;a\\\\|b\\\\_c&lt;/script&gt;'
    >>> md_escape("&lt; is an entity")
    '&amp;lt; is an entity'
    """
    s = ENTITY_LIKE.sub("&amp;", str(s))
    s = MARKUP.sub(r"\\\1", s)
    s = TAG_LIKE.sub(lambda m: m.group(0).replace("<", "&lt;").replace(">", "&gt;"), s)
    return s.replace("\r", " ").replace("\n", " ")
