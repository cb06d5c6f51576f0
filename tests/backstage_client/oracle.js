// Backstage's own decision on entities, as its catalog backend makes it: the entity
// policies (SchemaValid, DefaultNamespace, NoForeignRootFields, FieldFormat with the
// default validators), then the built-in kinds' validators (an entity no validator
// recognises is refused), then the built-in processor's relations (parseEntityRef).
// Reads a JSON array of entities on stdin; prints [{ok, error, relations}] on stdout.
// Before the policies the location annotations are merged in, as Backstage's
// AnnotateLocationEntityProcessor does (so an empty `annotations:` becomes an object).
'use strict';

const model = require('@backstage/catalog-model');

const policy = model.EntityPolicies.allOf([
  new model.SchemaValidEntityPolicy(),
  new model.DefaultNamespaceEntityPolicy(),
  new model.NoForeignRootFieldsEntityPolicy(),
  new model.FieldFormatEntityPolicy(model.makeValidator()),
]);
const validators = [
  model.apiEntityV1alpha1Validator, model.componentEntityV1alpha1Validator,
  model.resourceEntityV1alpha1Validator, model.groupEntityV1alpha1Validator,
  model.locationEntityV1alpha1Validator, model.userEntityV1alpha1Validator,
  model.systemEntityV1alpha1Validator, model.domainEntityV1alpha1Validator,
];
// [kind, spec field, default kind, outgoing, incoming]: BuiltinKindsEntityProcessor's table.
const FIELDS = [
  ['Component', 'owner', 'Group', 'ownedBy', 'ownerOf'],
  ['Component', 'subcomponentOf', 'Component', 'partOf', 'hasPart'],
  ['Component', 'providesApis', 'API', 'providesApi', 'apiProvidedBy'],
  ['Component', 'consumesApis', 'API', 'consumesApi', 'apiConsumedBy'],
  ['Component', 'dependsOn', undefined, 'dependsOn', 'dependencyOf'],
  ['Component', 'dependencyOf', undefined, 'dependencyOf', 'dependsOn'],
  ['Component', 'system', 'System', 'partOf', 'hasPart'],
  ['API', 'owner', 'Group', 'ownedBy', 'ownerOf'],
  ['API', 'system', 'System', 'partOf', 'hasPart'],
  ['Resource', 'owner', 'Group', 'ownedBy', 'ownerOf'],
  ['Resource', 'dependsOn', undefined, 'dependsOn', 'dependencyOf'],
  ['Resource', 'dependencyOf', undefined, 'dependencyOf', 'dependsOn'],
  ['Resource', 'system', 'System', 'partOf', 'hasPart'],
  ['User', 'memberOf', 'Group', 'memberOf', 'hasMember'],
  ['Group', 'parent', 'Group', 'childOf', 'parentOf'],
  ['Group', 'children', 'Group', 'parentOf', 'childOf'],
  ['Group', 'members', 'User', 'hasMember', 'memberOf'],
  ['System', 'owner', 'Group', 'ownedBy', 'ownerOf'],
  ['System', 'domain', 'Domain', 'partOf', 'hasPart'],
  ['Domain', 'owner', 'Group', 'ownedBy', 'ownerOf'],
  ['Domain', 'subdomainOf', 'Domain', 'partOf', 'hasPart'],
];

function relationsOf(entity) {
  const self = model.getCompoundEntityRef(entity);
  const me = model.stringifyEntityRef(self);
  const out = [];
  for (const [kind, field, defaultKind, outgoing, incoming] of FIELDS) {
    const targets = entity.kind === kind ? entity.spec[field] : undefined;
    if (!targets) continue;
    for (const target of [targets].flat()) {
      const ref = model.stringifyEntityRef(
        model.parseEntityRef(target, { defaultKind, defaultNamespace: self.namespace }));
      out.push([me, outgoing, ref], [ref, incoming, me]);
    }
  }
  return out;
}

async function decide(input) {
  try {
    if (input && typeof input === 'object' && !Array.isArray(input)
        && input.metadata && typeof input.metadata === 'object') {
      const annotations = input.metadata.annotations;
      if (annotations === null || annotations === undefined) {
        input.metadata.annotations = { 'backstage.io/managed-by-location': 'file:/x' };
      }
    }
    const entity = await policy.enforce(input);
    let known = false;
    for (const validator of validators) {
      if (await validator.check(entity)) { known = true; break; }
    }
    if (!known) return { ok: false, error: 'no processor recognised the entity' };
    return { ok: true, relations: relationsOf(entity) };
  } catch (e) {
    return { ok: false, error: String(e && e.message || e) };
  }
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const entities = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const out = [];
  for (const entity of entities) out.push(await decide(entity));
  process.stdout.write(JSON.stringify(out));
}

main().catch(e => { process.stderr.write(`${e.stack || e}\n`); process.exit(1); });
