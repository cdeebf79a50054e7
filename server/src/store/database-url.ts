// TRICKLE_DATABASE as a PostgreSQL URL: postgres://user@host:port/database[?schema=name]. The
// schema is a Trickle parameter, not PostgreSQL's: it is taken out of the URL pg connects with.
// Pure, so the settings are checked before anything connects.

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

export const isPostgresUrl = (text: string) => /^postgres(ql)?:\/\//i.test(text)

/** The connection string and schema, undefined when `text` is no PostgreSQL URL; throws, naming the problem, when it is a bad one. */
export function parseDatabaseUrl (text: string): { url: string, schema?: string } | undefined {
  if (!isPostgresUrl(text)) return undefined
  let url: URL
  try { url = new URL(text) } catch { throw new Error(`"${redactDatabaseUrl(text)}" is not a URL`) }
  const schema = url.searchParams.get('schema') ?? undefined
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new Error(`schema "${schema}" must be a lower-case SQL identifier (letters, digits, _; at most 63)`)
  url.searchParams.delete('schema')
  return { url: url.href, ...(schema ? { schema } : {}) }
}

/** The URL without its password, for logs and messages. */
export function redactDatabaseUrl (text: string): string {
  try {
    const url = new URL(text)
    if (url.password) url.password = '***'
    return url.href
  } catch { return text.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@') }
}
