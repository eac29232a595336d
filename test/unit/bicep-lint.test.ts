/**
 * Lint rules over the parsed bicep files (no compiler here): no secrets in outputs, local auth and shared
 * keys off, least-privilege role assignments scoped to resources, every resource tagged with the azd
 * environment name. Each rule collects its violations, so a failure names every offending declaration.
 */
import {
  bicepFiles,
  byKind,
  calledFunctions,
  childrenOf,
  declaration,
  declarations,
  evaluate,
  identifiers,
  initBicep,
  loadBicep,
  prop,
  stringOf,
  type BicepFile,
  type Declaration,
} from '../helpers/bicep';

const names = bicepFiles();
let files: BicepFile[] = [];
beforeAll(async () => {
  await initBicep();
  files = names.map(loadBicep);
});

interface Found {
  file: BicepFile;
  d: Declaration;
  where: string;
}
const all = (kind: Declaration['kind'], name?: string): Found[] =>
  files
    .filter((f) => name === undefined || f.name === name)
    .flatMap((file) =>
      byKind(file, kind).map((d) => ({ file, d, where: `${file.name}: ${kind} ${d.name}` })),
    );
const created = (name?: string) => all('resource', name).filter((r) => !r.d.existing);
const literal = ({ file, d }: Found, path: string) => {
  const node = prop(d.body, path);
  return node ? evaluate(node, { file }) : undefined;
};

describe('no secrets in outputs', () => {
  it('the files have outputs to check', () => expect(all('output').length).toBeGreaterThan(20));

  it.each(names)('%s', (name) => {
    const secureParams = all('param', name)
      .filter((p) => p.d.decorators.includes('secure'))
      .map((p) => p.d.name);
    const problems: string[] = [];
    for (const { d, where } of all('output', name)) {
      const value = d.value!;
      if (/(key|keys|secret|password|token|connection_?string|sas)$/i.test(d.name)) {
        problems.push(`${where}: the name says it holds a secret`);
      }
      if (d.decorators.includes('secure')) problems.push(`${where}: a secure output`);
      const lists = calledFunctions(value).filter((f) => /^list/i.test(f));
      if (lists.length) problems.push(`${where}: calls ${lists.join(', ')}`);
      if (/connectionstring|primarykey|secondarykey|accountkey|masterkey|sastoken/i.test(value.text)) {
        problems.push(`${where}: reads a connection string or key`);
      }
      const secure = identifiers(value).filter((id) => secureParams.includes(id));
      if (secure.length) problems.push(`${where}: outputs the secure parameter ${secure.join(', ')}`);
    }
    expect(problems).toEqual([]);
  });

  it('no file reads keys at all (list*() functions)', () => {
    const calls = files.flatMap((f) => calledFunctions(f.root).filter((fn) => /^list/i.test(fn)));
    expect(calls).toEqual([]);
  });
});

describe('local auth and shared keys off', () => {
  /**
   * Every resource type bicep creates, with the properties it must have. A new type fails here until
   * someone decides what its secure settings are.
   */
  const RULES: Record<string, Record<string, unknown>> = {
    'Microsoft.Resources/resourceGroups': {},
    'Microsoft.ManagedIdentity/userAssignedIdentities': {},
    'Microsoft.OperationalInsights/workspaces': { 'properties.features.disableLocalAuth': true },
    'Microsoft.Insights/components': { 'properties.DisableLocalAuth': true },
    'Microsoft.Storage/storageAccounts': {
      'properties.allowSharedKeyAccess': false,
      'properties.defaultToOAuthAuthentication': true,
      'properties.allowBlobPublicAccess': false,
      'properties.minimumTlsVersion': 'TLS1_2',
      'properties.supportsHttpsTrafficOnly': true,
    },
    'Microsoft.Storage/storageAccounts/blobServices': {},
    'Microsoft.Storage/storageAccounts/blobServices/containers': { 'properties.publicAccess': 'None' },
    'Microsoft.DocumentDB/databaseAccounts': {
      'properties.disableLocalAuth': true,
      'properties.disableKeyBasedMetadataWriteAccess': true,
      'properties.minimalTlsVersion': 'Tls12',
    },
    'Microsoft.DocumentDB/databaseAccounts/sqlDatabases': {},
    'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers': {},
    'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments': {},
    'Microsoft.ServiceBus/namespaces': {
      'properties.disableLocalAuth': true,
      'properties.minimumTlsVersion': '1.2',
    },
    'Microsoft.ServiceBus/namespaces/queues': {},
    'Microsoft.ServiceBus/namespaces/topics': {},
    'Microsoft.ServiceBus/namespaces/topics/subscriptions': {},
    'Microsoft.CognitiveServices/accounts': { 'properties.disableLocalAuth': true },
    'Microsoft.CognitiveServices/accounts/deployments': {},
    'Microsoft.KeyVault/vaults': { 'properties.enableRbacAuthorization': true },
    'Microsoft.DurableTask/schedulers': {},
    'Microsoft.DurableTask/schedulers/taskHubs': {},
    'Microsoft.Web/serverfarms': { 'sku.tier': 'FlexConsumption', 'sku.name': 'FC1' },
    'Microsoft.Web/sites': {
      kind: 'functionapp,linux',
      'properties.httpsOnly': true,
      'properties.siteConfig.minTlsVersion': '1.2',
      'identity.type': 'UserAssigned',
    },
    'Microsoft.Web/sites/basicPublishingCredentialsPolicies': { 'properties.allow': false },
    'Microsoft.Web/sites/config': {},
    'Microsoft.Authorization/roleAssignments': {},
    'Microsoft.Insights/workbooks': {},
    'Microsoft.Insights/actionGroups': {},
    'Microsoft.Insights/scheduledQueryRules': {},
    'Microsoft.Insights/metricAlerts': {},
  };

  it.each(names)('%s', (name) => {
    const problems: string[] = [];
    for (const r of created(name)) {
      const rules = RULES[r.d.ref!];
      if (!rules) problems.push(`${r.where}: ${r.d.ref} has no rule in this test yet`);
      for (const [path, expected] of Object.entries(rules ?? {})) {
        const actual = literal(r, path);
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          problems.push(`${r.where}: ${path} must be ${JSON.stringify(expected)}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('Azure OpenAI has the custom subdomain Entra ID sign-in needs', () => {
    const openAi = created().find((r) => r.d.ref === 'Microsoft.CognitiveServices/accounts')!;
    expect(prop(openAi.d.body, 'properties.customSubDomainName')).toBeDefined();
  });

  it('the function app allows neither FTP nor SCM basic auth', () => {
    const policies = created().filter(
      (r) => r.d.ref === 'Microsoft.Web/sites/basicPublishingCredentialsPolicies',
    );
    expect(policies.map((r) => literal(r, 'name')).sort()).toEqual(['ftp', 'scm']);
  });

  it('Key Vault keeps purge protection off, so azd down --purge can remove it', () => {
    const vault = created().find((r) => r.d.ref === 'Microsoft.KeyVault/vaults')!;
    expect(prop(vault.d.body, 'properties.enablePurgeProtection')).toBeUndefined();
  });
});

describe('role assignments', () => {
  const assignments = (name?: string) =>
    all('resource', name).filter((r) => r.d.ref === 'Microsoft.Authorization/roleAssignments');
  /** Data-plane (and telemetry publishing) roles only: no Owner, Contributor or User Access Administrator. */
  const APPROVED: Record<string, string> = {
    'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
    '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
    '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
    '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0': 'Azure Service Bus Data Receiver',
    '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39': 'Azure Service Bus Data Sender',
    '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd': 'Cognitive Services OpenAI User',
    '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
    '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
    'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': 'Key Vault Secrets Officer',
    '0ad04412-c4d5-4796-b79c-f76d14c8d402': 'Durable Task Data Contributor',
  };
  const BROAD_SCOPES = ['Microsoft.Resources/resourceGroups', 'Microsoft.Resources/subscriptions'];

  /** The role definition id: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', <id>). */
  const roleOf = ({ file, d }: Found): string | undefined => {
    const id = prop(d.body, 'properties.roleDefinitionId');
    const args = id?.childForFieldName('arguments');
    const [type, role] = args ? childrenOf(args) : [];
    if (id?.childForFieldName('function')?.text !== 'subscriptionResourceId' || !type || !role)
      return undefined;
    return evaluate(type) === 'Microsoft.Authorization/roleDefinitions'
      ? stringOf(role, { file })
      : undefined;
  };

  it('none in a subscription-scope file (main.bicep): they belong in modules, on resources', () => {
    const subscriptionScoped = files.filter((f) => /targetScope\s*=\s*'subscription'/.test(f.source));
    expect(subscriptionScoped.map((f) => f.name)).toEqual(['main.bicep']);
    expect(subscriptionScoped.flatMap((f) => assignments(f.name))).toEqual([]);
  });

  it.each(names)('%s: on a resource, named guid(scope, principal, role), with an approved role', (name) => {
    const problems: string[] = [];
    for (const a of assignments(name)) {
      const { file, d, where } = a;
      const scope = prop(d.body, 'scope');
      const target =
        scope?.type === 'identifier' ? declarations(file).find((x) => x.name === scope.text) : undefined;
      if (target?.kind !== 'resource') problems.push(`${where}: scope must name a resource of this file`);
      else if (BROAD_SCOPES.includes(target.ref!)) problems.push(`${where}: scoped to ${target.ref}`);
      const guid = prop(d.body, 'name');
      const args = guid?.childForFieldName('arguments');
      const [first, principal, role] = (args ? childrenOf(args) : []).map((n) => n.text);
      if (guid?.childForFieldName('function')?.text !== 'guid' || first !== `${scope?.text}.id`) {
        problems.push(`${where}: its name must be guid(<scope>.id, principal, role)`);
      }
      if (principal !== prop(d.body, 'properties.principalId')?.text) {
        problems.push(`${where}: its name must include the principal`);
      }
      const roleArgs = prop(d.body, 'properties.roleDefinitionId')?.childForFieldName('arguments');
      if (!roleArgs || role !== childrenOf(roleArgs)[1]?.text)
        problems.push(`${where}: its name must include the role`);
      const roleId = roleOf(a);
      if (!roleId || !APPROVED[roleId])
        problems.push(`${where}: role ${roleId} is not an approved data-plane role`);
      if (!prop(d.body, 'properties.principalType')) problems.push(`${where}: no principalType`);
    }
    expect(problems).toEqual([]);
  });

  it("the app's identity holds exactly the roles it needs, each on its resource or entity", () => {
    const granted = assignments()
      .filter((a) => prop(a.d.body, 'properties.principalId')?.text === 'principalId')
      .map((a) => {
        // The entity's name when it is a literal (Service Bus entities), else the resource's symbol.
        const target = declaration(a.file, 'resource', prop(a.d.body, 'scope')!.text);
        const name = evaluate(prop(target.body, 'name')!, { file: a.file });
        return `${typeof name === 'string' ? name : target.name}: ${APPROVED[roleOf(a) ?? '']}`;
      })
      .sort();
    expect(granted).toEqual(
      [
        'agent-jobs: Azure Service Bus Data Receiver',
        'agent-tasks: Azure Service Bus Data Receiver',
        'agent-tasks: Azure Service Bus Data Sender',
        'agent-results: Azure Service Bus Data Sender',
        'openAi: Cognitive Services OpenAI User',
        'applicationInsights: Monitoring Metrics Publisher',
        'vault: Key Vault Secrets User',
        'storage: Storage Blob Data Owner',
        'storage: Storage Queue Data Contributor',
        'storage: Storage Table Data Contributor',
        'scheduler: Durable Task Data Contributor',
      ].sort(),
    );
  });

  it('the Cosmos DB data role is the built-in data contributor, scoped to the account', () => {
    const sql = all('resource').filter(
      (r) => r.d.ref === 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments',
    );
    expect(sql).toHaveLength(1);
    const { file, d } = sql[0]!;
    const parent = prop(d.body, 'parent')!.text;
    expect(declaration(file, 'resource', parent).ref).toBe('Microsoft.DocumentDB/databaseAccounts');
    expect(prop(d.body, 'properties.scope')?.text).toBe(`${parent}.id`);
    const roleId = prop(d.body, 'properties.roleDefinitionId')!.text;
    expect(roleId).toBe(`'\${${parent}.id}/sqlRoleDefinitions/\${cosmosDataContributor}'`);
    expect(evaluate(declaration(file, 'var', 'cosmosDataContributor').value!)).toBe(
      '00000000-0000-0000-0000-000000000002',
    );
  });
});

describe('every resource is tagged with the azd environment name', () => {
  /** Extension resources, which take no tags. Child resources (Provider/type/child) are exempt too. */
  const UNTAGGED = ['Microsoft.Authorization/roleAssignments'];

  it("main.bicep's tags carry azd-env-name = environmentName", () => {
    const main = loadBicep('main.bicep');
    const tags = evaluate(declaration(main, 'var', 'tags').value!, { env: { environmentName: 'dev' } });
    expect(tags).toEqual({ 'azd-env-name': 'dev' });
  });

  it.each(names)('%s', (name) => {
    const problems: string[] = [];
    const taggable = created(name).filter(
      (r) => r.d.ref!.split('/').length === 2 && !UNTAGGED.includes(r.d.ref!),
    );
    for (const { file, d, where } of taggable) {
      if (!/^(tags|union\(tags,[\s\S]*\))$/.test(prop(d.body, 'tags')?.text ?? '')) {
        problems.push(`${where}: tags must be tags or union(tags, ...)`);
      }
      const param =
        file.name === 'main.bicep' ? undefined : byKind(file, 'param').find((p) => p.name === 'tags');
      // A module's tags parameter has no default: a caller cannot forget it.
      if (file.name !== 'main.bicep' && (!param || param.value))
        problems.push(`${where}: needs param tags object`);
    }
    expect(problems).toEqual([]);
  });

  it('main.bicep hands its tags to every module that takes them', () => {
    const main = loadBicep('main.bicep');
    for (const m of byKind(main, 'module')) {
      const takesTags = byKind(loadBicep(m.ref!), 'param').some((p) => p.name === 'tags');
      expect({ module: m.ref, tags: prop(m.body, 'params.tags')?.text }).toEqual({
        module: m.ref,
        tags: takesTags ? 'tags' : undefined,
      });
    }
  });
});
