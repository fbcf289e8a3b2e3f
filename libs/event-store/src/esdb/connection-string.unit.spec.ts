import { assertSafeConnectionString, esdbConnectionStringProblems } from './connection-string';

describe('EventStoreDB connection string checks', () => {
  it.each([
    'esdb://127.0.0.1:2113?tls=false',
    'esdb://admin:changeit@node1:2113,node2:2113,node3:2113?tls=true&nodePreference=leader',
    'esdb+discover://cluster.example.com:2113?keepAliveInterval=10000&throwOnAppendFailure=true',
    'esdb://127.0.0.1:2113?TLS=false&node-preference=Leader',
  ])('accepts %s', (cs) => expect(esdbConnectionStringProblems(cs)).toEqual([]));

  it.each([
    ['esdb://h:2113?throwOnAppendFailure=false', /throwOnAppendFailure=false is refused/],
    ['esdb://h:2113?nodePreference=follower', /nodePreference=follower is refused/],
    ['esdb://h:2113?nodePreference=random', /nodePreference=random is refused/],
    ['esdb://h:2113?nodePreference=readOnlyReplica', /nodePreference=read_only_replica is refused/],
    ['kurrentdb://h:2113?tls=false', /kurrentdb:\/\/ scheme is not understood.*esdb:\/\//],
    ['http://h:2113', /must start with esdb:\/\/ or esdb\+discover:\/\//],
    ['esdb://h:2113?requiresLeader=true', /unknown option "requiresLeader"/],
    ['esdb://h:2113?tls=maybe', /cannot be parsed: expected true or false/],
  ])('refuses %s, naming why', (cs, why) => {
    expect(esdbConnectionStringProblems(cs).join('; ')).toMatch(why);
    expect(() => assertSafeConnectionString(cs)).toThrow(/^ESDB_CONNECTION_STRING: /);
  });

  it('never repeats a password from the string', () => {
    const problems = esdbConnectionStringProblems('esdb://admin:s3cret@h:2113?tls=maybe&nodePreference=follower');
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join(' ')).not.toContain('s3cret');
  });
});
