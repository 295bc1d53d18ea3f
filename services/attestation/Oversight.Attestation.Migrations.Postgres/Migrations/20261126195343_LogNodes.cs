using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Oversight.Attestation.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class LogNodes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "log_nodes",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false),
                    Level = table.Column<int>(type: "integer", nullable: false),
                    Index = table.Column<long>(type: "bigint", nullable: false),
                    Hash = table.Column<byte[]>(type: "bytea", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_log_nodes", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_ledger_LeafHash",
                table: "ledger",
                column: "LeafHash");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "log_nodes");

            migrationBuilder.DropIndex(
                name: "IX_ledger_LeafHash",
                table: "ledger");
        }
    }
}
