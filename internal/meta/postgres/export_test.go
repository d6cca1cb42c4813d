package postgres

// Migrations lets the tests build a database of an earlier schema version.
var Migrations = migrations
