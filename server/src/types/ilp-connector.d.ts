// ilp-connector ships no usable typings for createApp; this is the part Trickle uses.
declare module 'ilp-connector' {
  export interface ConnectorApp {
    listen (): Promise<void>
    shutdown (): Promise<void>
  }
}
