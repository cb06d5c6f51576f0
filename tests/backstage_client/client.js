// Drives the portal's Backstage-compatible catalog API with the real
// @backstage/catalog-client. Reads PORTAL_URL (the portal's base URL) and PORTAL_TOKEN
// (a bearer token); prints one JSON object with what each call returned.
'use strict';

const { CatalogClient, CATALOG_FILTER_EXISTS } = require('@backstage/catalog-client');

const base = `${process.env.PORTAL_URL}/api/catalog`;
const token = process.env.PORTAL_TOKEN;
const options = { token };
const client = new CatalogClient({ discoveryApi: { getBaseUrl: async () => base } });
const names = items => items.map(e => e && e.metadata.name);

async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return { name: e.name, statusCode: e.statusCode, cause: e.cause && e.cause.name,
             message: e.cause && e.cause.message, body: e.body };
  }
}

async function main() {
  const out = {};
  out.components = names((await client.getEntities({ filter: { kind: 'Component' } }, options)).items);
  out.libraries = names((await client.getEntities(
    { filter: [{ kind: 'component', 'spec.type': 'library' }] }, options)).items);
  out.componentsOrSystems = names((await client.getEntities(
    { filter: [{ kind: 'Component' }, { kind: 'System' }] }, options)).items);
  out.kindList = names((await client.getEntities(
    { filter: { kind: ['Component', 'System'] } }, options)).items);
  out.withOwner = names((await client.getEntities(
    { filter: { 'spec.owner': CATALOG_FILTER_EXISTS } }, options)).items);
  out.projected = (await client.getEntities(
    { fields: ['kind', 'metadata.name'], order: { field: 'metadata.name', order: 'desc' } },
    options)).items;
  out.page = names((await client.getEntities(
    { limit: 5, offset: 2, order: { field: 'metadata.name', order: 'asc' } }, options)).items);

  const pages = [];
  let response = await client.queryEntities(
    { limit: 7, orderFields: { field: 'metadata.name', order: 'asc' } }, options);
  out.totalItems = response.totalItems;
  pages.push(names(response.items));
  while (response.pageInfo.nextCursor) {
    response = await client.queryEntities({ cursor: response.pageInfo.nextCursor, limit: 7 }, options);
    pages.push(names(response.items));
  }
  out.queryPages = pages;
  out.fullText = names((await client.queryEntities({ fullTextFilter: { term: 'web' } }, options)).items);
  const streamed = [];
  for await (const chunk of client.streamEntities({ pageSize: 6 }, options)) {
    streamed.push(...names(chunk));
  }
  out.streamed = streamed;

  out.byRefs = names((await client.getEntitiesByRefs(
    { entityRefs: ['component:default/web', 'component:default/nope'] }, options)).items);
  const web = await client.getEntityByRef('component:default/web', options);
  out.web = web;
  out.missing = (await client.getEntityByRef('component:default/missing', options)) === undefined;
  const byUid = await client.apiClient.getEntityByUid({ path: { uid: web.metadata.uid } }, options);
  out.byUid = (await byUid.json()).metadata.name;
  out.ancestry = await client.getEntityAncestors({ entityRef: 'component:default/web' }, options);
  out.facets = await client.getEntityFacets(
    { facets: ['kind', 'spec.type'], filter: { kind: 'Component' } }, options);
  out.locations = (await client.getLocations({}, options)).items;
  out.location = await client.getLocationById(out.locations[0].id, options);
  out.missingLocation = (await client.getLocationById('999999', options)) === undefined;
  out.badToken = await failure(client.getEntities({}, { token: 'not-a-token' }));
  out.badOrder = await failure(client.getEntities(
    { order: { field: '', order: 'asc' }, filter: { kind: 'Component' } }, options));
  process.stdout.write(JSON.stringify(out));
}

main().catch(e => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
