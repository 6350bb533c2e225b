"""Git objects without a process per step: a persistent ``git cat-file --batch`` reader, loose-object
writing, tree rewriting, and the pack + request body of a smart-HTTP ``git-receive-pack`` push.

Building the commit of an attempt (blobs, the trees along the edited paths, the commit) in Python and pushing
it with one HTTP request keeps a fetch-edit-push cycle to one ``git fetch`` plus in-process work.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

TYPE_CODES = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}
ZERO = "0" * 40


class ObjectError(Exception):
    pass


def _is_oid(spec: str) -> bool:
    return len(spec) == 40 and all(c in "0123456789abcdef" for c in spec)


def object_id(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Entry:
    mode: str  # "100644", "40000", ...
    name: str
    oid: str

    @property
    def is_tree(self) -> bool:
        return self.mode in ("40000", "040000")


def parse_tree(data: bytes) -> list[Entry]:
    entries: list[Entry] = []
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        mode = data[pos:space].decode()
        name = data[space + 1 : nul].decode("utf-8", "surrogateescape")
        oid = data[nul + 1 : nul + 21].hex()
        entries.append(Entry(mode, name, oid))
        pos = nul + 21
    return entries


def _sort_key(e: Entry) -> bytes:
    name = e.name.encode("utf-8", "surrogateescape")
    return name + b"/" if e.is_tree else name


def serialize_tree(entries: Sequence[Entry]) -> bytes:
    out = bytearray()
    for e in sorted(entries, key=_sort_key):
        out += f"{e.mode} ".encode() + e.name.encode("utf-8", "surrogateescape") + b"\0" + bytes.fromhex(e.oid)
    return bytes(out)


class ObjectStore:
    """Read objects through one long-running ``git cat-file --batch``; write loose objects directly."""

    def __init__(self, git_dir: Path, env: Mapping[str, str]) -> None:
        self.git_dir = git_dir
        self.env = {**env, "GIT_DIR": str(git_dir)}
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.written: dict[str, tuple[str, bytes]] = {}  # objects created by the current attempt
        self.commits: set[str] = set()  # commit ids written (by fetches and by us)
        self.memory: dict[str, tuple[str, bytes]] = {}
        self.pending: list[str] = []
        self.promisor = False  # a partial clone: objects reach the disk as a promisor pack

    def _reader(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                ["git", "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, env=self.env,
            )
        return self._proc

    def read(self, spec: str) -> tuple[str, str, bytes] | None:
        """(oid, type, content) for an object name like ``<oid>``, ``<commit>:path`` or ``<rev>^{tree}``."""
        if "\n" in spec:
            raise ObjectError("object names cannot contain newlines")
        if spec in self.memory:
            kind, data = self.memory[spec]
            return spec, kind, data
        if self.pending and not _is_oid(spec):
            self.flush()  # "<rev>:path" / "<rev>^{tree}" may need objects only we have
        with self._lock:
            proc = self._reader()
            stdin: IO[bytes] = proc.stdin  # type: ignore[assignment]
            stdout: IO[bytes] = proc.stdout  # type: ignore[assignment]
            try:
                stdin.write(spec.encode("utf-8", "surrogateescape") + b"\n")
                stdin.flush()
                header = stdout.readline().decode().split()
            except (BrokenPipeError, OSError) as exc:
                self.close()
                raise ObjectError(f"git cat-file stopped: {exc}")
            if len(header) != 3:
                return None  # "<spec> missing" / "ambiguous"
            oid, kind, size = header[0], header[1], int(header[2])
            data = stdout.read(size)
            stdout.read(1)
        return oid, kind, data

    def write(self, kind: str, data: bytes) -> str:
        """Record an object. It lives in memory (reads see it at once) and reaches the object directory only
        when :meth:`flush` runs, before any git command that needs it: creating hundreds of small files per
        fetch would cost more than the fetch itself."""
        oid = object_id(kind, data)
        self.written[oid] = (kind, data)
        if kind == "commit":
            self.commits.add(oid)
        if oid not in self.memory:
            self.memory[oid] = (kind, data)
            self.pending.append(oid)
        return oid

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        if pending and self.promisor:
            # One pack marked as coming from the promisor remote: git then knows the blobs (and trees) these
            # objects name but we never fetched can be fetched on demand, so its own fetches and
            # connectivity checks do not fail on them.
            objects = [self.memory[oid] for oid in pending]
            proc = subprocess.run(["git", "index-pack", "--stdin"], input=build_pack(objects), env=self.env,
                                  capture_output=True, check=False)
            name = proc.stdout.decode().split()[-1] if proc.returncode == 0 and proc.stdout.split() else ""
            if name:
                (self.git_dir / "objects" / "pack" / f"pack-{name}.promisor").write_bytes(b"")
                return
        for oid in pending:
            kind, data = self.memory[oid]
            path = self.git_dir / "objects" / oid[:2] / oid[2:]
            if path.exists():
                continue
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="tmp_obj_")
            with os.fdopen(fd, "wb") as fh:
                fh.write(zlib.compress(f"{kind} {len(data)}\0".encode() + data, 1))
            os.replace(tmp, path)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
            if proc.stdout:
                proc.stdout.close()

    # ----------------------------------------------------------------------------- trees and commits
    def commit_tree(self, commit: str) -> str | None:
        """The tree id of a commit (read from memory when we have it there)."""
        found = self.read(commit)
        if found is None or found[1] != "commit":
            return None
        first = found[2].split(b"\n", 1)[0].decode()
        return first[5:] if first.startswith("tree ") else None

    def tree_entries(self, tree_oid: str) -> list[Entry]:
        found = self.read(tree_oid)
        if found is None or found[1] != "tree":
            raise ObjectError(f"tree {tree_oid} is not available")
        return parse_tree(found[2])

    def replace_files(self, root_tree: str, files: Mapping[str, tuple[str, bytes]]) -> str:
        """Write blobs and the trees along their paths; returns the new root tree."""
        return self.replace_oids(root_tree, {path: (mode, self.write("blob", content))
                                             for path, (mode, content) in files.items()})

    def replace_oids(self, root_tree: str, files: Mapping[str, tuple[str, str]]) -> str:
        """The trees along the paths with each ``path -> (mode, blob id)`` in place (the blobs exist already,
        here or on the server); returns the new root tree."""
        nested: dict[str, object] = {}
        for path, (mode, oid) in files.items():
            parts = path.split("/")
            node = nested
            for part in parts[:-1]:
                node = node.setdefault(part, {})  # type: ignore[assignment]
            node[parts[-1]] = (mode, oid)
        return self._rewrite(root_tree, nested)

    def blob_at(self, root_tree: str, path: str) -> tuple[str, str] | None:
        """``(mode, blob id)`` of ``path`` under ``root_tree`` from the trees we have (None when absent)."""
        tree: str | None = root_tree
        parts = path.split("/")
        for i, part in enumerate(parts):
            if tree is None:
                return None
            entry = next((e for e in self.tree_entries(tree) if e.name == part), None)
            if entry is None:
                return None
            if i == len(parts) - 1:
                return None if entry.is_tree else (entry.mode, entry.oid)
            tree = entry.oid if entry.is_tree else None
        return None

    def _rewrite(self, tree_oid: str | None, changes: Mapping[str, object]) -> str:
        entries = {e.name: e for e in self.tree_entries(tree_oid)} if tree_oid else {}
        for name, change in changes.items():
            if isinstance(change, tuple):
                mode, oid = change
                entries[name] = Entry(mode, name, oid)
            else:
                current = entries.get(name)
                sub = current.oid if current is not None and current.is_tree else None
                assert isinstance(change, dict)
                entries[name] = Entry("40000", name, self._rewrite(sub, change))
        return self.write("tree", serialize_tree(list(entries.values())))

    def commit(self, tree: str, parents: Sequence[str], message: str, author: str, committer: str) -> str:
        lines = [f"tree {tree}", *[f"parent {p}" for p in parents], f"author {author}", f"committer {committer}"]
        body = "\n".join(lines) + "\n\n" + message
        if not body.endswith("\n"):
            body += "\n"
        return self.write("commit", body.encode("utf-8"))


# --------------------------------------------------------------------------------- push over smart HTTP
def pkt_line(data: bytes) -> bytes:
    return f"{len(data) + 4:04x}".encode() + data


def build_pack(objects: Sequence[tuple[str, bytes]]) -> bytes:
    """A version-2 pack of whole (undeltified) objects."""
    out = bytearray(b"PACK" + (2).to_bytes(4, "big") + len(objects).to_bytes(4, "big"))
    for kind, data in objects:
        size = len(data)
        byte = (TYPE_CODES[kind] << 4) | (size & 0x0F)
        size >>= 4
        header = bytearray()
        while size:
            header.append(byte | 0x80)
            byte = size & 0x7F
            size >>= 7
        header.append(byte)
        out += header + zlib.compress(data, 1)
    out += hashlib.sha1(out, usedforsecurity=False).digest()
    return bytes(out)


def receive_pack_request(commands: Sequence[tuple[str, str, str]], objects: Sequence[tuple[str, bytes]],
                         *, atomic: bool = False) -> bytes:
    """``commands`` are (old, new, ref); with ``atomic`` the server applies all of them or none."""
    caps = "report-status" + (" atomic" if atomic else "") + " agent=shipyard"
    body = b""
    for i, (old, new, ref) in enumerate(commands):
        line = f"{old} {new} {ref}" + (f"\0 {caps}" if i == 0 else "") + "\n"
        body += pkt_line(line.encode())
    body += b"0000"
    if any(new != ZERO for _, new, _ in commands):
        body += build_pack(objects)
    return body


def parse_report(body: bytes) -> tuple[str, dict[str, str]]:
    """``(unpack status, {ref: "ok" | "ng <reason>"})`` from a report-status response."""
    pos = 0
    unpack = ""
    refs: dict[str, str] = {}
    while pos + 4 <= len(body):
        length = int(body[pos : pos + 4], 16)
        if length == 0:
            pos += 4
            continue
        line = body[pos + 4 : pos + length].decode("utf-8", "replace").rstrip("\n")
        pos += length
        if line.startswith("unpack "):
            unpack = line[7:]
        elif line.startswith("ok "):
            refs[line[3:]] = "ok"
        elif line.startswith("ng "):
            ref, _, reason = line[3:].partition(" ")
            refs[ref] = "ng " + reason
    return unpack, refs


# --------------------------------------------------------------------------------- fetch over smart HTTP
TYPE_NAMES = {1: "commit", 2: "tree", 3: "blob", 4: "tag"}


def parse_advertisement(body: bytes) -> tuple[dict[str, str], set[str]]:
    """``({ref: oid}, capabilities)`` from a v0 ``info/refs?service=git-upload-pack`` answer."""
    refs: dict[str, str] = {}
    caps: set[str] = set()
    pos = 0
    while pos + 4 <= len(body):
        length = int(body[pos : pos + 4], 16)
        if length == 0:
            pos += 4
            continue
        line = body[pos + 4 : pos + length]
        pos += length
        if line.startswith(b"#"):
            continue
        text, _, capdata = line.rstrip(b"\n").partition(b"\0")
        if capdata:
            caps.update(capdata.decode().split())
        oid, _, ref = text.decode().partition(" ")
        if len(oid) == 40:
            refs[ref] = oid
    return refs, caps


def upload_pack_request(want: str | Sequence[str], haves: Sequence[str], capabilities: Sequence[str],
                        filter_spec: str | None = None, *, deepen: int | None = None) -> bytes:
    """A v0 upload-pack request (stateless: it ends with ``done``) for one or more advertised objects.
    ``deepen``: a shallow fetch of that many commits (the answer then starts with the new shallow boundary)."""
    wants = [want] if isinstance(want, str) else list(want)
    caps = list(capabilities) + (["shallow"] if deepen else []) + (["filter"] if filter_spec else [])
    body = pkt_line(f"want {wants[0]} {' '.join(caps)}\n".encode())
    body += b"".join(pkt_line(f"want {oid}\n".encode()) for oid in wants[1:])
    if deepen:
        body += pkt_line(f"deepen {deepen}\n".encode())
    if filter_spec:
        body += pkt_line(f"filter {filter_spec}\n".encode())
    body += b"0000"
    for have in haves:
        body += pkt_line(f"have {have}\n".encode())
    return body + pkt_line(b"done\n")


def _pkt_lines(data: bytes, pos: int = 0) -> Iterator[tuple[int, bytes | None]]:
    """``(offset after the line, payload)`` for each pkt-line from ``pos``; None for flush/delim packets."""
    while pos + 4 <= len(data):
        try:
            length = int(data[pos : pos + 4], 16)
        except ValueError:
            raise ObjectError("malformed pkt-line in the answer")
        if length < 4:
            pos += 4
            yield pos, None
            continue
        if pos + length > len(data):
            raise ObjectError("truncated pkt-line in the answer")
        payload = data[pos + 4 : pos + length]
        pos += length
        yield pos, payload


def parse_upload_pack_v0(data: bytes, *, shallow: bool) -> tuple[list[str], bytes]:
    """``(shallow boundary commits, pack)`` from a v0 upload-pack answer to :func:`upload_pack_request`
    (no side-band): with ``shallow``, shallow/unshallow lines and a flush first; then NAK or ACK; then the
    pack."""
    boundary: list[str] = []
    in_shallow = shallow
    for pos, line in _pkt_lines(data):
        if line is None:
            in_shallow = False
            continue
        text = line.decode("utf-8", "replace").rstrip("\n")
        if text.startswith("ERR "):
            raise ObjectError(f"the server refused the fetch: {text[4:]}")
        if in_shallow and text.startswith("shallow "):
            boundary.append(text[8:].strip())
        elif in_shallow and text.startswith("unshallow "):
            continue
        elif text == "NAK" or text.startswith("ACK "):
            if data[pos : pos + 4] != b"PACK":
                raise ObjectError("no pack after the acknowledgement")
            return boundary, data[pos:]
        else:
            raise ObjectError(f"unexpected line in the fetch answer: {text[:60]!r}")
    raise ObjectError("no pack in the answer")


def fetch_v2_request(wants: Sequence[str], filter_spec: str | None = None) -> bytes:
    """A protocol-v2 ``fetch`` command for objects by id (a partial clone's lazy fetch of blobs or trees;
    v2 servers accept any object they have in a want). Sent with the ``Git-Protocol: version=2`` header."""
    body = pkt_line(b"command=fetch\n") + pkt_line(b"agent=git/shipyard\n") + b"0001"
    for want in wants:
        body += pkt_line(f"want {want}\n".encode())
    if filter_spec:
        body += pkt_line(f"filter {filter_spec}\n".encode())
    for arg in (b"no-progress\n", b"ofs-delta\n", b"done\n"):
        body += pkt_line(arg)
    return body + b"0000"


def parse_fetch_v2(data: bytes) -> bytes:
    """The pack of a protocol-v2 fetch answer: the ``packfile`` section's side-band channel 1 (channel 2 is
    progress, channel 3 a fatal error)."""
    section = ""
    pack = bytearray()
    for _, line in _pkt_lines(data):
        if line is None:
            if section == "packfile":
                break
            continue
        if section != "packfile":
            text = line.decode("utf-8", "replace").rstrip("\n")
            if text.startswith("ERR "):
                raise ObjectError(f"the server refused the fetch: {text[4:]}")
            if text in ("packfile", "shallow-info", "wanted-refs", "acknowledgments", "packfile-uris"):
                section = text
            continue
        band = line[:1]
        if band == b"\x01":
            pack += line[1:]
        elif band == b"\x03":
            raise ObjectError(f"the server failed the fetch: {line[1:].decode('utf-8', 'replace').strip()}")
    if pack[:4] != b"PACK":
        raise ObjectError("no pack in the v2 answer (does the server speak protocol v2?)")
    return bytes(pack)


def _apply_delta(base: bytes, delta: bytes) -> bytes:
    pos = 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = delta[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    if varint() != len(base):
        raise ObjectError("delta base size mismatch")
    size = varint()
    out = bytearray()
    while pos < len(delta):
        op = delta[pos]
        pos += 1
        if op & 0x80:
            offset = length = 0
            for i in range(4):
                if op & (1 << i):
                    offset |= delta[pos] << (8 * i)
                    pos += 1
            for i in range(3):
                if op & (0x10 << i):
                    length |= delta[pos] << (8 * i)
                    pos += 1
            out += base[offset : offset + (length or 0x10000)]
        elif op:
            out += delta[pos : pos + op]
            pos += op
        else:
            raise ObjectError("bad delta opcode 0")
    if len(out) != size:
        raise ObjectError("delta result size mismatch")
    return bytes(out)


def unpack(data: bytes, store: ObjectStore) -> set[str]:
    """Write every object of a version-2 pack (whole, REF_DELTA or OFS_DELTA) into ``store``."""
    if data[:4] != b"PACK":
        raise ObjectError("not a pack")
    count = int.from_bytes(data[8:12], "big")
    pos = 12
    by_offset: dict[int, tuple[str, bytes]] = {}
    pending: list[tuple[int, str | int, bytes]] = []  # (offset, base oid or base offset, delta)
    view = memoryview(data)
    for _ in range(count):
        start = pos
        byte = data[pos]
        pos += 1
        kind = (byte >> 4) & 7
        shift = 4
        while byte & 0x80:
            byte = data[pos]
            pos += 1
            shift += 7
        base_ref: str | int | None = None
        if kind == 7:
            base_ref = data[pos : pos + 20].hex()
            pos += 20
        elif kind == 6:
            byte = data[pos]
            pos += 1
            rel = byte & 0x7F
            while byte & 0x80:
                byte = data[pos]
                pos += 1
                rel = ((rel + 1) << 7) | (byte & 0x7F)
            base_ref = start - rel
        d = zlib.decompressobj()
        chunks = []
        while not d.eof:
            piece = view[pos : pos + 65536]
            if not piece:
                raise ObjectError("truncated pack")
            chunks.append(d.decompress(piece))
            pos += len(piece) - len(d.unused_data)
        body = b"".join(chunks)
        if base_ref is None:
            name = TYPE_NAMES[kind]
            store.write(name, body)
            by_offset[start] = (name, body)
        else:
            pending.append((start, base_ref, body))
    by_oid = {object_id(k, b): (k, b) for k, b in by_offset.values()}
    got = set(by_oid)
    for _ in range(len(pending) + 1):
        if not pending:
            break
        left = []
        for start, base_ref, delta in pending:
            base: tuple[str, bytes] | None
            if isinstance(base_ref, int):
                base = by_offset.get(base_ref)
            else:
                base = by_oid.get(base_ref)
                if base is None:
                    found = store.read(base_ref)
                    base = (found[1], found[2]) if found else None
            if base is None:
                left.append((start, base_ref, delta))
                continue
            result = (base[0], _apply_delta(base[1], delta))
            by_offset[start] = result
            oid = store.write(*result)
            by_oid[oid] = result
            got.add(oid)
        if len(left) == len(pending):
            raise ObjectError("pack has deltas against objects that are not available")
        pending = left
    return got
