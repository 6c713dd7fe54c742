"""Convert reports to PDF with LibreOffice."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import SelfevalError


def to_pdf(docx_paths, out_dir, *, timeout: float = 600, batch: int = 200, tmp_dir=None) -> list[Path]:
    """Convert .docx files to PDF into ``out_dir`` with LibreOffice (one ``soffice`` call per
    ``batch`` files, a private profile so it runs beside an open LibreOffice, kept in
    ``tmp_dir``: the batch passes its output folder's own, so a killed conversion leaves
    nothing in the system's TMPDIR). Returns the PDF paths in input order. Raises
    ``SelfevalError`` (Chinese message) when soffice is missing, times out, or a PDF was not
    produced. Inputs must have distinct file names."""
    docx_paths = [Path(p).resolve() for p in docx_paths]
    if not docx_paths:
        return []
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        raise SelfevalError("未找到 LibreOffice（soffice 命令），无法把报告转换为 PDF；"
                            "请安装 LibreOffice 后重试，或不要求输出 PDF。")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    if tmp_dir is not None:
        Path(tmp_dir).mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="selfeval-lo-", dir=tmp_dir))
    try:
        for i in range(0, len(docx_paths), batch):
            chunk = docx_paths[i:i + batch]
            cmd = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
                   "--nologo", "--nodefault", "--convert-to", "pdf", "--outdir", str(out_dir),
                   *map(str, chunk)]
            try:
                proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False,
                                      env={**os.environ, "TMPDIR": str(profile)})  # its own temporaries too
            except subprocess.TimeoutExpired as exc:
                raise SelfevalError(f"LibreOffice 转换 PDF 超时（{timeout:g} 秒），已中止。") from exc
            missing = [p.name for p in chunk if not (out_dir / (p.stem + ".pdf")).is_file()]
            if missing:
                detail = proc.stderr.decode("utf-8", "replace").strip()[-300:]
                raise SelfevalError(f"LibreOffice 未能把下列报告转换为 PDF：{'、'.join(missing[:10])}"
                                    + (f"（{detail}）" if detail else ""))
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return [out_dir / (p.stem + ".pdf") for p in docx_paths]
