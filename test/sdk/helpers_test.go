package sdk

import (
	"errors"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

var pollOptions = runtime.PollUntilDoneOptions{Frequency: 100 * time.Millisecond}

func asResponseError(err error, target **azcore.ResponseError) bool { return errors.As(err, target) }
