"""UCR/UEA time series (.ts reader, built-ins bundled with aeon) and spoken-digit MFCC frames."""
