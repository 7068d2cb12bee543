"""/api/models: list, upload (multipart) and create fresh random models (JSON)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import Field, ValidationError
from starlette.datastructures import UploadFile

from gatescope.settings import Settings
from gatescope.web.deps import RegistryDep, SettingsDep, find_model, user_errors
from gatescope.web.schemas import Strict, validation_detail
from gatescope.zoo.foreign import EMBEDDING, HEAD, ChooseModule, ForeignModel, is_foreign, read_foreign
from gatescope.zoo.parts import describe_modules, parse_vocab
from gatescope.zoo.random_models import RandomModelSpec
from gatescope.zoo.readers import read_state_dict, rnn_prefixes
from gatescope.zoo.registry import ModelRegistry

router = APIRouter(prefix="/api/models", tags=["models"])

UPLOAD_FIELDS = {"file", "prefix", "nonlinearity", "vocab", "output_vocab", "embedding", "head"}
_VOCAB_HELP = "a JSON list of tokens or a text file of one token per line"
UPLOAD_FIELD_SCHEMAS = {
    "vocab": {"type": "string", "description": f"input vocabulary (index = embedding row): {_VOCAB_HELP}"},
    "output_vocab": {"type": "string", "description": f"the head's classes (default: vocab): {_VOCAB_HELP}"},
    "embedding": {"type": "string", "description": "the embedding's key (default: found by shape)"},
    "head": {"type": "string", "description": "the head's weight key or module (default: found by shape)"},
}


class RandomModelRequest(Strict):
    """A freshly initialized model (torch's default init, seeded)."""

    arch: Literal["lstm", "gru", "rnn"]
    input_size: int | None = Field(
        None, description="numeric inputs per step; omit (or vocab='ascii') for text"
    )
    hidden_size: int = 16
    num_layers: int = 1
    seed: int = 0
    nonlinearity: Literal["tanh", "relu"] = "tanh"
    forget_bias: float | None = Field(None, description="LSTM: b_if + b_hf (1.0 per Jozefowicz et al. 2015)")
    bias: bool = True
    vocab: Literal["ascii"] | None = Field(None, description="'ascii': a text model over printable ASCII")


@router.get("")
def list_models(registry: RegistryDep) -> dict[str, list[dict[str, Any]]]:
    return {"models": registry.list()}


@router.get("/{model_id}")
def get_model(model_id: str, registry: RegistryDep) -> dict[str, Any]:
    """One model's record. A random model's id is enough to rebuild it, even after a restart."""
    return find_model(registry, model_id).record


@router.post(
    "",
    status_code=201,
    response_model=None,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": RandomModelRequest.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "prefix": {"type": "string"},
                            "nonlinearity": {"type": "string", "enum": ["tanh", "relu"]},
                            **UPLOAD_FIELD_SCHEMAS,
                        },
                    }
                },
            }
        }
    },
)
async def create_model(
    request: Request, registry: RegistryDep, settings: SettingsDep
) -> dict[str, Any] | JSONResponse:
    """JSON: a fresh random model. Multipart ``file``: a state_dict (.safetensors or weights-only
    .pt), a Keras model (.keras, Keras 2 .h5) or an ONNX graph (.onnx), read as data."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await _upload(request, registry, settings)
    try:
        body = RandomModelRequest.model_validate(await request.json())
    except ValidationError as exc:
        raise HTTPException(422, validation_detail(exc.errors())) from None
    except ValueError:
        raise HTTPException(422, "send JSON (a random model) or multipart/form-data with a 'file'") from None
    if body.vocab is None and body.input_size is None:
        raise HTTPException(422, "give input_size (numeric inputs) or vocab='ascii' (a text model)")
    with user_errors():
        model = registry.create_random(
            RandomModelSpec(
                arch=body.arch,
                input_size=None if body.vocab else body.input_size,
                hidden_size=body.hidden_size,
                num_layers=body.num_layers,
                seed=body.seed,
                nonlinearity=body.nonlinearity,
                forget_bias=body.forget_bias,
                bias=body.bias,
            ),
            remember=True,  # listed by every process serving this upload folder
        )
    return model.record


async def _form_text(value: str | UploadFile | None, what: str, limit: int) -> str | None:
    """A form field given as text or as an uploaded text file."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    data = await value.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"the {what} file is larger than {limit // 2**20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(422, f"the {what} file is not UTF-8 text") from None


async def _upload(
    request: Request, registry: ModelRegistry, settings: Settings
) -> dict[str, Any] | JSONResponse:
    """A user's state_dict: a bare recurrent module, or a whole model with its vocabularies, and
    (found by shape, or named) its embedding and head. Several recurrent modules and no prefix:
    422 listing them, so the page can offer the choice."""
    form = await request.form(max_files=3, max_fields=len(UPLOAD_FIELDS))
    unknown = sorted(set(form.keys()) - UPLOAD_FIELDS)
    if unknown:
        raise HTTPException(
            422,
            f"unknown upload field(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(UPLOAD_FIELDS))}",
        )
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, "multipart upload needs a 'file' field holding the checkpoint")
    data = await upload.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise HTTPException(
            413, f"the file is larger than the {settings.max_upload_bytes // 2**20} MiB limit"
        )
    fields = {}
    for name in ("prefix", "nonlinearity", "vocab", "output_vocab", "embedding", "head"):
        fields[name] = await _form_text(form.get(name), name, settings.max_upload_bytes)
    with user_errors():
        vocab = None if fields["vocab"] is None else parse_vocab(fields["vocab"], "vocab")
        output_vocab = (
            None if fields["output_vocab"] is None else parse_vocab(fields["output_vocab"], "output_vocab")
        )
    if is_foreign(upload.filename or ""):
        return _upload_foreign(registry, settings, data, upload.filename or "", fields, vocab, output_vocab)
    with user_errors():
        state_dict = read_state_dict(data, upload.filename or "")
        if fields["prefix"] is None and len(rnn_prefixes(state_dict)) > 1:
            modules = describe_modules(state_dict, fields["nonlinearity"] or "tanh")
            shown = ", ".join(repr(m["prefix"]) for m in modules)
            detail = f"the file holds {len(modules)} recurrent modules ({shown}); choose one with 'prefix'"
            return JSONResponse({"detail": detail, "modules": modules}, status_code=422)
        model = registry.add_upload(
            state_dict,
            upload.filename or "upload",
            fields["prefix"],
            fields["nonlinearity"] or "tanh",
            vocab=vocab,
            output_vocab=output_vocab,
            embedding=fields["embedding"],
            head=fields["head"],
        )
    return model.record


def _upload_foreign(
    registry: ModelRegistry,
    settings: Settings,
    data: bytes,
    filename: str,
    fields: dict[str, str | None],
    vocab: list[str] | None,
    output_vocab: list[str] | None,
) -> dict[str, Any] | JSONResponse:
    """A Keras or ONNX file (`gatescope.zoo.foreign`): its recurrent stack, and the Keras
    Embedding and Dense as the embedding and head. Without a vocab an Embedding's rows are named
    by their ids ("0", "1", ...), so traces take ``tokens``."""
    for name in ("embedding", "head"):
        if fields[name] is not None:
            raise HTTPException(
                422, f"'{name}' names a tensor of a torch state_dict; a {filename!r} is read whole"
            )
    try:
        foreign: ForeignModel = read_foreign(
            data, filename, settings.max_upload_bytes, settings.max_model_config_bytes, fields["prefix"]
        )
    except ChooseModule as exc:
        return JSONResponse({"detail": str(exc), "modules": exc.modules}, status_code=422)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if fields["nonlinearity"] not in (None, foreign.nonlinearity):
        raise HTTPException(
            422,
            f"the file says the nonlinearity is {foreign.nonlinearity!r}; 'nonlinearity' cannot change it",
        )
    if foreign.has_embedding and vocab is None:
        vocab = [str(i) for i in range(foreign.vocab_size or 0)]
    with user_errors():
        model = registry.add_upload(
            foreign.state_dict,
            filename,
            "",
            foreign.nonlinearity,
            vocab=vocab,
            output_vocab=output_vocab,
            embedding=EMBEDDING if foreign.has_embedding else None,
            head=HEAD if foreign.has_head else None,
            origin=foreign.card(),
        )
    return model.record
