"""Internal helpers for the Office Open XML side of workbooks (not part of the public API).

- :mod:`.parts`: the one copy of namespaces, column letters <-> index, and workbook.xml -> sheet parts;
- :mod:`.meta`: what calamine does not tell (percent formats, formulas without values, used ranges);
- :mod:`.edit`: adding a sheet, cell marks and comments to an .xlsx by editing its zip parts;
- :mod:`.xls_copy`: the same for an ``.xls``, rebuilt with openpyxl;
- :mod:`.rows`: the big sheets of summary.xlsx, their rows written as XML and spliced in.
"""
