package identity

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

func newDir(t testing.TB) *Directory {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d, err := Open(context.Background(), s, "tenant")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPasswordHash(t *testing.T) {
	h := HashPassword("s3cret!")
	if !CheckPassword(h, "s3cret!") || CheckPassword(h, "s3cret") || CheckPassword("garbage", "s3cret!") {
		t.Fatal("password check")
	}
	if HashPassword("s3cret!") == h {
		t.Fatal("hashes are not salted")
	}
}

func TestUsersAndServicePrincipals(t *testing.T) {
	d := newDir(t)
	ctx := context.Background()
	u := &Principal{Kind: KindUser, Name: "Alice@example.com", Secrets: []Secret{{ID: "p", Hash: HashPassword("pw")}}}
	if err := d.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := d.Create(ctx, &Principal{Kind: KindUser, Name: "alice@EXAMPLE.com"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate UPN: %v", err)
	}
	if p, ok := authOK(d, KindUser, "alice@example.com", "pw"); !ok || p.ID != u.ID {
		t.Fatal("user sign-in")
	}
	if _, ok := authOK(d, KindUser, "alice@example.com", "nope"); ok {
		t.Fatal("wrong password accepted")
	}
	if _, ok := authOK(d, KindUser, "bob", "pw"); ok {
		t.Fatal("unknown user accepted")
	}
	secret := NewSecret()
	sp := &Principal{Kind: KindServicePrincipal, Name: "app-1", Secrets: []Secret{{ID: "s", Hash: HashSecret(secret)}}}
	d.Create(ctx, sp)
	if _, ok := authOK(d, KindServicePrincipal, "app-1", secret); !ok {
		t.Fatal("client secret")
	}
	if _, ok := authOK(d, KindUser, "app-1", secret); ok {
		t.Fatal("a service principal signed in as a user")
	}
	if err := d.Delete(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Get(u.ID); ok {
		t.Fatal("deleted user still found")
	}
}

func TestManagedIdentities(t *testing.T) {
	d := newDir(t)
	ctx := context.Background()
	secret := NewSecret()
	task := "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r/tasks/t"
	sys := &Principal{Kind: KindManagedIdentity, Name: "sys-client", Assignment: SystemAssigned, Owner: task,
		OwnerType: "Microsoft.ContainerRegistry/registries/tasks", Secrets: []Secret{{ID: "i", Hash: HashSecret(secret)}}}
	ua := &Principal{Kind: KindManagedIdentity, Name: "ua-client", Assignment: UserAssigned, AttachedTo: []string{task}}
	other := &Principal{Kind: KindManagedIdentity, Name: "ua-other", Assignment: UserAssigned}
	for _, p := range []*Principal{sys, ua, other} {
		if err := d.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if p, ok := d.ByInstanceSecret(secret, ""); !ok || p.ID != sys.ID {
		t.Fatal("instance secret -> system-assigned identity")
	}
	if p, ok := d.ByInstanceSecret(secret, "ua-client"); !ok || p.ID != ua.ID {
		t.Fatal("instance secret + client_id -> attached user-assigned identity")
	}
	if _, ok := d.ByInstanceSecret(secret, "ua-other"); ok {
		t.Fatal("a user-assigned identity not attached to the instance was handed out")
	}
	if _, ok := d.ByInstanceSecret("wrong", ""); ok {
		t.Fatal("wrong instance secret accepted")
	}
	if _, ok := d.ByInstanceSecret("", ""); ok {
		t.Fatal("empty instance secret accepted")
	}
}

func TestVerifiedPasswordCache(t *testing.T) {
	d := newDir(t)
	ctx := context.Background()
	u := &Principal{Kind: KindUser, Name: "carol", Secrets: []Secret{{ID: "p", Hash: HashPassword("first-password")}}}
	d.Create(ctx, u)
	if _, ok := authOK(d, KindUser, "carol", "first-password"); !ok {
		t.Fatal("sign-in")
	}
	if !d.verified.ok(u.Secrets[0].Hash, "first-password") {
		t.Fatal("a successful check was not remembered")
	}
	if _, ok := authOK(d, KindUser, "carol", "wrong"); ok {
		t.Fatal("wrong password accepted after a cached success")
	}
	// A new password replaces the hash: the remembered check no longer applies.
	c := Copy(u)
	c.Secrets = []Secret{{ID: "p2", Hash: HashPassword("second-password")}}
	if err := d.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, ok := authOK(d, KindUser, "carol", "first-password"); ok {
		t.Fatal("the old password still works after a change")
	}
	if _, ok := authOK(d, KindUser, "carol", "second-password"); !ok {
		t.Fatal("new password")
	}
}

func BenchmarkAuthenticatePassword(b *testing.B) {
	s, _ := sqlite.Open(filepath.Join(b.TempDir(), "m.db"))
	defer s.Close()
	d, _ := Open(context.Background(), s, "t")
	d.Create(context.Background(), &Principal{Kind: KindUser, Name: "bench", Secrets: []Secret{{ID: "p", Hash: HashPassword("bench-password")}}})
	for b.Loop() {
		if _, ok := authOK(d, KindUser, "bench", "bench-password"); !ok {
			b.Fatal("sign-in")
		}
	}
}

// TestCreateRaceAcrossNodes: two directories on one store (two nodes) create
// the same user name at once; exactly one wins, and after a delete the name
// is free again.
func TestCreateRaceAcrossNodes(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	a, err := Open(ctx, s, "tenant")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, s, "tenant")
	if err != nil {
		t.Fatal(err)
	}
	// Both snapshots are empty: only the store can tell them apart.
	errA := a.Create(ctx, &Principal{Kind: KindUser, Name: "carol@example.com"})
	errB := b.Create(ctx, &Principal{Kind: KindUser, Name: "Carol@Example.com"})
	if errA != nil || !errors.Is(errB, ErrExists) {
		t.Fatalf("first create: %v, second on the other node: %v; want nil and ErrExists", errA, errB)
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(b.List(KindUser)); n != 1 {
		t.Fatalf("%d users named carol, want 1", n)
	}
	p, _ := b.Find(KindUser, "carol@example.com")
	if err := b.Delete(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Create(ctx, &Principal{Kind: KindUser, Name: "carol@example.com"}); err != nil {
		t.Fatalf("the name is free after delete: %v", err)
	}
}

// authOK is Authenticate as a yes or no.
func authOK(d *Directory, kind, name, secret string) (*Principal, bool) {
	p, err := d.Authenticate(context.Background(), kind, name, secret)
	return p, err == nil
}

// TestReloadSkipsCorruptRecords: a corrupt principal record grants nothing
// and does not stop a reload, so a principal deleted elsewhere (another
// node) disappears from this node's snapshot.
func TestReloadSkipsCorruptRecords(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := Open(ctx, s, "tenant")
	if err != nil {
		t.Fatal(err)
	}
	p := &Principal{Kind: KindServicePrincipal, Name: "app-1"}
	if err := d.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.PutResource(ctx, &meta.Resource{ID: principalID("corrupt"), Type: principalType, Body: []byte(`{"id":`)}); err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, s, "tenant") // another node
	if err != nil {
		t.Fatalf("a corrupt record stops a node from loading the directory: %v", err)
	}
	if err := other.Delete(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(ctx); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if _, ok := d.Get(p.ID); ok {
		t.Fatal("a principal deleted on another node survives this node's reload")
	}
}
