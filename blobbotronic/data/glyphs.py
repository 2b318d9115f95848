"""CJK glyph rendering: find a font, render each character as a small bitmap, cache them."""
