// `npm start`: the companion with its local Interledger network, wallet and verifier on embedded
// defaults. (The example site joins this in the theme issue.)
import '../server/src/server.ts'
