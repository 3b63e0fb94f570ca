"""A model: ops in execution order, their connections, weights and labels, all validated."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gpu_engine.chunkfile import parse_chunks, read_chunks
from gpu_engine.errors import ModelError
from gpu_engine.listing import Block, parse_listing
from gpu_engine.ops import OP_TYPES
from gpu_engine.ops.base import CODES, FINAL_OUTPUTS, MAIN, Connection, Op, Params

MAX_OPS = 4096


@dataclass
class Model:
    name: str
    ops: list[Op]
    labels: list[str] = field(default_factory=list)
    description: str = field(default="", repr=False)  # the listing it was built from

    def chunks(self) -> dict[str, bytes]:
        """The model as chunkfile records, from what it holds (the self-test's probe is built
        from these, not from the file again)."""
        records = {"": self.description.encode("ascii"),
                   "labels": "".join(f"{label}\n" for label in self.labels).encode("utf-8")}
        for op in self.ops:
            records.update(op.encode_weights(op.weight_arrays()))
        return records

    @property
    def sampler(self) -> Op:
        """The source op (the image sampler): the model's first op."""
        return self.ops[0]

    @property
    def input_size(self) -> tuple[int, int]:
        return self.sampler.width, self.sampler.height

    @property
    def num_classes(self) -> int:
        return self.ops[-1].shape[2]

    def multiply_adds(self) -> int:
        return sum(op.multiply_adds() for op in self.ops)

    def parameters(self) -> int:
        return sum(op.parameters() for op in self.ops)


def load_model(path: str | os.PathLike[str]) -> Model:
    """Read and validate a chunkfile; every problem becomes a ModelError."""
    return build_model(read_chunks(path), Path(path).stem)


def load_model_bytes(data: bytes, name: str = "model") -> Model:
    return build_model(parse_chunks(data), name)


def build_model(chunks: dict[str, bytes], name: str) -> Model:
    if "" not in chunks:
        raise ModelError("chunkfile has no model description (the chunk with the empty id)")
    try:
        text = chunks[""].decode("ascii")
    except UnicodeDecodeError:
        raise ModelError("the model description is not ASCII text") from None
    ops = parse_graph(text, lambda op: op.load_weights(chunks, f"op {op.name!r} ({op.TYPE})"))
    return Model(name=name, ops=ops, labels=_labels(chunks, ops[-1].shape[2]), description=text)


def parse_graph(text: str, shaped: Callable[[Op], None] | None = None) -> list[Op]:
    """The ops of a model description, connected, checked and shaped, without weights (what
    `Op.weight_chunks` needs); `shaped` is called with each op once its shape is known."""
    chapters = parse_listing(text)
    for chapter in ("ops", "connections"):
        if chapter not in chapters:
            raise ModelError(f"the model description has no '{chapter}:' chapter")
    ops = [_parse_op(index, block) for index, block in enumerate(chapters["ops"])]
    if not ops:
        raise ModelError("the model has no ops")
    if len(ops) > MAX_OPS:
        raise ModelError(f"the model has {len(ops)} ops, more than {MAX_OPS}")
    _connect(ops, chapters["connections"])
    _check_structure(ops)
    shapes = {}
    for op in ops:
        for slot, connection in op.inputs.items():
            quads = shapes[connection.source][2] // 4
            if connection.shuffle > 1 and quads % connection.shuffle:
                raise op.error(f"input {slot}: shuffle {connection.shuffle} does not divide the "
                               f"{quads} channel quads of {connection.source!r}")
        shapes[op.name] = op.shape = op.infer_shape(
            {slot: shapes[c.source] for slot, c in op.inputs.items()})
        if shaped is not None:
            shaped(op)
    return ops


def _parse_op(index: int, block: Block) -> Op:
    where = f"op #{index}"
    if "_name" not in block or not block["_name"]:
        raise ModelError(f"{where}: '_name' is missing")
    where = f"op {block['_name']!r}"
    op_type = block.get("_type")
    if op_type not in OP_TYPES:
        raise ModelError(f"{where}: unknown op type {op_type!r} (supported: "
                         f"{', '.join(OP_TYPES)})")
    return OP_TYPES[op_type].parse(block["_name"], Params(block, f"{where} ({op_type})"))


def _connect(ops: list[Op], blocks: list[Block]) -> None:
    position = {}
    for index, op in enumerate(ops):
        if op.name in position:
            raise ModelError(f"op name {op.name!r} is used twice")
        position[op.name] = index
    for number, block in enumerate(blocks):
        where = f"connection #{number}"
        params = Params(block, where)
        source, dest = block.get("from"), block.get("to")
        if source is None or dest is None:
            raise ModelError(f"{where}: 'from' and 'to' are required")
        for end in (source, dest):
            if end not in position:
                raise ModelError(f"{where}: no op named {end!r}")
        if params.int("from_output", 0, minimum=0) != 0:
            raise ModelError(f"{where}: op {source!r} has only output 0")
        slot = params.int("to_input", 0, minimum=0)
        shuffle = params.int("shuffle", 0, minimum=0, maximum=4096)
        target = ops[position[dest]]
        if slot not in target.INPUTS:
            raise ModelError(f"{where}: op {dest!r} ({target.TYPE}) has no input {slot}")
        if position[source] >= position[dest]:
            raise ModelError(f"{where}: {source!r} does not come before {dest!r} in 'ops'")
        if slot in target.inputs:
            raise ModelError(f"{where}: input {slot} of {dest!r} is connected twice")
        target.inputs[slot] = Connection(source, shuffle)


def _check_structure(ops: list[Op]) -> None:
    """Graph rules from what each op declares: one source op first, every input reading a kind
    of output its slot accepts, shuffles only on 8-bit main inputs, one final output."""
    sources = sorted(t for t, cls in OP_TYPES.items() if not cls.INPUTS)
    if ops[0].INPUTS:
        raise ModelError(f"the first op must be an {' or '.join(sources)}, not {ops[0].TYPE} "
                         f"{ops[0].name!r}")
    by_name = {op.name: op for op in ops}
    for op in ops[1:]:
        if not op.INPUTS:
            raise ModelError(f"op {op.name!r}: only one {op.TYPE} (the first op) is supported")
        if MAIN not in op.inputs:
            raise op.error("its main input (to_input 0) is not connected")
        for slot, connection in op.inputs.items():
            source = by_name[connection.source]
            if connection.shuffle > 1 and source.OUTPUT != CODES:
                raise op.error(f"input {slot} shuffles the output of {source.TYPE} "
                               f"{source.name!r}; only 8-bit activations can be shuffled")
            if connection.shuffle > 1 and slot != MAIN:
                raise op.error(f"a shuffled input {slot} is not supported (only the main input)")
            if source.OUTPUT not in op.accepts(slot):
                raise op.error(f"input {slot} cannot read the output of {source.TYPE} "
                               f"{source.name!r} ({source.OUTPUT}; it reads "
                               f"{' or '.join(op.accepts(slot))})")
    last = ops[-1]
    if last.OUTPUT not in FINAL_OUTPUTS:
        raise ModelError(f"the last op must produce logits, probabilities or features, not "
                         f"{last.TYPE} {last.name!r}")
    consumed = {c.source for op in ops for c in op.inputs.values()}
    if last.name in consumed:
        raise ModelError(f"the last op {last.name!r} feeds another op")
    for op in ops[:-1]:
        if op.name not in consumed:
            raise ModelError(f"op {op.name!r} ({op.TYPE}) feeds nothing: the graph must end in "
                             f"its last op")


def _labels(chunks: dict[str, bytes], classes: int) -> list[str]:
    if "labels" not in chunks:
        return [f"class {index}" for index in range(classes)]
    try:
        lines = chunks["labels"].decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise ModelError("chunk 'labels' is not UTF-8 text") from None
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != classes:
        raise ModelError(f"chunk 'labels' names {len(lines)} classes, the model outputs {classes}")
    return [line.rstrip("\r") for line in lines]
