module github.com/divandb/divan

go 1.26.8
