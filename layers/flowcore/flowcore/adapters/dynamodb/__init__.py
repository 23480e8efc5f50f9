"""The single table: keys, item encoding, conditional writes, and one repository per aggregate."""
