package acrapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/store/meta"
)

// maxBody bounds a PATCH body (four booleans need a few dozen bytes).
const maxBody = 16 << 10

// changeable is a PATCH body: the changeable attributes to set, each optional.
type changeable struct {
	DeleteEnabled *bool `json:"deleteEnabled"`
	WriteEnabled  *bool `json:"writeEnabled"`
	ListEnabled   *bool `json:"listEnabled"`
	ReadEnabled   *bool `json:"readEnabled"`
}

const patchShape = `{"deleteEnabled": true|false, "writeEnabled": true|false, "listEnabled": true|false, "readEnabled": true|false} (each optional)`

// readPatch reads the attributes a PATCH sets; an empty body sets none.
func readPatch(r *http.Request) (meta.AttributesPatch, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return meta.AttributesPatch{}, errcode.Wrap(errcode.BodyInvalid, err, "could not read the request body")
	}
	return parsePatch(body)
}

func parsePatch(body []byte) (meta.AttributesPatch, error) {
	if len(body) > maxBody {
		return meta.AttributesPatch{}, errcode.New(errcode.BodyInvalid, "the body is over %d bytes; send %s", maxBody, patchShape)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return meta.AttributesPatch{}, nil
	}
	var c changeable
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return meta.AttributesPatch{}, errcode.New(errcode.BodyInvalid, "the body must be %s: %v", patchShape, err)
	}
	if dec.More() {
		return meta.AttributesPatch{}, errcode.New(errcode.BodyInvalid, "the body must be one JSON object: %s", patchShape)
	}
	return meta.AttributesPatch{DeleteEnabled: c.DeleteEnabled, WriteEnabled: c.WriteEnabled, ListEnabled: c.ListEnabled, ReadEnabled: c.ReadEnabled}, nil
}
