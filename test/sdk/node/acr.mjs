// Drives moat's /acr/v1/ API with the npm package @azure/container-registry,
// signed in as a service principal at moat's authority (@azure/identity's
// ClientSecretCredential). Run by test/sdk/node_test.go, which pushed the
// content (repositories sdk/app with tags v1 and v2, and other) and checks
// the JSON this prints.
//
// Environment: MOAT_ACR_ENDPOINT (https://<registry>.<suffix>:<port>),
// MOAT_AUTHORITY_HOST, MOAT_TENANT, MOAT_CLIENT_ID, MOAT_CLIENT_SECRET,
// MOAT_DNS_SUFFIX and MOAT_DNS_TARGET (names under the suffix resolve to the
// target address: the wildcard DNS record of a real deployment), and
// NODE_EXTRA_CA_CERTS (moat's CA).
import dns from "node:dns";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const suffix = "." + env("MOAT_DNS_SUFFIX");
const target = env("MOAT_DNS_TARGET");
const lookup = dns.lookup;
dns.lookup = (host, options, callback) => lookup(host.endsWith(suffix) ? target : host, options, callback);

const { ContainerRegistryClient, KnownContainerRegistryAudience } = await import("@azure/container-registry");
const { ClientSecretCredential } = await import("@azure/identity");

const credential = new ClientSecretCredential(env("MOAT_TENANT"), env("MOAT_CLIENT_ID"), env("MOAT_CLIENT_SECRET"), {
  authorityHost: env("MOAT_AUTHORITY_HOST"),
  disableInstanceDiscovery: true,
});
const client = new ContainerRegistryClient(env("MOAT_ACR_ENDPOINT"), credential, {
  audience: KnownContainerRegistryAudience.AzureResourceManagerPublicCloud,
});

async function all(iterator) {
  const out = [];
  for await (const x of iterator) out.push(x);
  return out;
}

// refusal runs a call that must fail and returns what the SDK reports.
async function refusal(call) {
  try {
    await call();
    return { status: "succeeded" };
  } catch (e) {
    return { status: e.statusCode, message: e.message };
  }
}

const out = {};
out.repositories = await all(client.listRepositoryNames());
out.repositoryPages = (await all(client.listRepositoryNames().byPage({ maxPageSize: 1 }))).length;

const repo = client.getRepository("sdk/app");
const props = await repo.getProperties();
out.repository = { name: props.name, registry: props.registryLoginServer, manifestCount: props.manifestCount, tagCount: props.tagCount, canDelete: props.canDelete };
out.manifests = (await all(repo.listManifestProperties({ order: "LastUpdatedOnDescending" }))).map((m) => ({
  digest: m.digest, tags: m.tags, architecture: m.architecture, os: m.operatingSystem, size: m.sizeInBytes,
}));

const v1 = repo.getArtifact("v1");
const tag = await v1.getTagProperties("v1");
out.tag = { name: tag.name, digest: tag.digest, canWrite: tag.canWrite, created: tag.createdOn instanceof Date };
// An artifact lists the tags of its repository (the package does not filter by digest).
out.tagsNewestFirst = (await all(repo.getArtifact("v2").listTagProperties({ order: "LastUpdatedOnDescending" }))).map((t) => t.name);
const manifest = await v1.getManifestProperties();
out.manifest = { digest: manifest.digest, tags: manifest.tags, architecture: manifest.architecture };

// Lock the tag; deleting it is refused until it is unlocked.
const locked = await v1.updateTagProperties("v1", { canWrite: false, canDelete: false });
out.locked = { canWrite: locked.canWrite, canDelete: locked.canDelete, canRead: locked.canRead };
out.deleteLocked = await refusal(() => v1.deleteTag("v1"));
await v1.updateTagProperties("v1", { canWrite: true, canDelete: true });

// Hide a repository from the catalog.
const hidden = await client.getRepository("other").updateProperties({ canList: false });
out.hidden = { canList: hidden.canList };
out.repositoriesAfterHiding = await all(client.listRepositoryNames());

// Delete a tag, a manifest, a repository.
await repo.getArtifact("v2").deleteTag("v2");
out.deletedTagLookup = await refusal(() => v1.getTagProperties("v2"));
await v1.delete();
out.afterManifestDelete = (await all(repo.listManifestProperties())).length;
await client.deleteRepository("other");
out.repositoriesAtEnd = await all(client.listRepositoryNames());

console.log(JSON.stringify(out));
