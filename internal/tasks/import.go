package tasks

import "context"

// ImportOptions are the options of a registry import.
type ImportOptions struct {
	// Force overwrites existing target tags; without it an existing target
	// tag fails the import before anything is copied.
	Force bool
	// Referrers also copies the referrers of the copied manifests.
	Referrers bool
}

// ImportResult is what an import copied.
type ImportResult struct {
	Digest    string
	Referrers []string // digests of the referrers copied (Referrers only)
}

// Import copies src to each of dsts with tokens from mint (registry import).
func (s *Service) Import(ctx context.Context, src Ref, dsts []Ref, opts ImportOptions, mint Minted) (*ImportResult, error) {
	e, err := s.endpoint()
	if err != nil {
		return nil, err
	}
	c := NewClient(e, func(Ref) Authorizer { return mint })
	if !opts.Force {
		for _, d := range dsts {
			ok, err := c.Exists(ctx, d)
			if err != nil {
				return nil, err
			}
			if ok {
				return nil, &ConflictError{Target: d.String()}
			}
		}
	}
	res := &ImportResult{}
	for i, d := range dsts {
		// The referrers are copied by digest, so once into each repository.
		refs := opts.Referrers && !sameRepoBefore(dsts[:i], d)
		digest, copied, err := c.CopyWith(ctx, src, d, CopyOptions{Referrers: refs}, func(string, ...any) {})
		if err != nil {
			return nil, err
		}
		res.Digest = digest
		res.Referrers = append(res.Referrers, copied...)
	}
	if opts.Referrers && res.Referrers == nil {
		res.Referrers = []string{}
	}
	return res, nil
}

func sameRepoBefore(before []Ref, d Ref) bool {
	for _, b := range before {
		if b.Host == d.Host && b.Repo == d.Repo {
			return true
		}
	}
	return false
}

// ConflictError: the import target exists and the mode is NoForce.
type ConflictError struct{ Target string }

func (e *ConflictError) Error() string {
	return "the target tag " + e.Target + " already exists; use mode Force (--force) to overwrite it"
}
