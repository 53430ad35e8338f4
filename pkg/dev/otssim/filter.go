package otssim

// Conditions and filters: Condition{row_existence, column_condition} on
// writes and Filter on reads (table_store.proto, ots_filter.proto;
// https://www.alibabacloud.com/help/doc-detail/35194.html).
//
// A single-column filter compares the column's value with a constant:
// with latest_version_only only the newest version counts, otherwise any
// version may satisfy it; a missing column satisfies it unless
// filter_if_missing. Values compare only within one type (numbers
// numerically, strings and binaries bytewise, false < true): values of
// different types, or a NaN, satisfy only NOT_EQUAL.

import (
	"fmt"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
)

// maxConditionColumns bounds the single-column filters of a write
// condition (https://www.alibabacloud.com/help/doc-detail/35194.html).
const maxConditionColumns = 10

// maxFilterDepth bounds the nesting of composite filters.
const maxFilterDepth = 32

// filter is a parsed Filter: exactly one of single, composite or
// pagination is set.
type filter struct {
	single     *singleFilter
	op         otsprotocol.LogicalOperator
	subs       []*filter
	pagination *otsprotocol.ColumnPaginationFilter
}

type singleFilter struct {
	cmp             otsprotocol.ComparatorType
	column          string
	val             value
	filterIfMissing bool
	latestOnly      bool
}

// parseFilter parses a serialized Filter.
func parseFilter(b []byte) (*filter, error) {
	pf := &otsprotocol.Filter{}
	if err := decode(b, pf); err != nil {
		return nil, err
	}
	return fromProto(pf, 0)
}

func fromProto(pf *otsprotocol.Filter, depth int) (*filter, error) {
	if depth > maxFilterDepth {
		return nil, errParam("Filters are nested deeper than %d levels.", maxFilterDepth)
	}
	switch pf.GetType() {
	case otsprotocol.FilterType_FT_SINGLE_COLUMN_VALUE:
		sf := &otsprotocol.SingleColumnValueFilter{}
		if err := decode(pf.GetFilter(), sf); err != nil {
			return nil, err
		}
		return newSingle(sf)
	case otsprotocol.FilterType_FT_COMPOSITE_COLUMN_VALUE:
		cf := &otsprotocol.CompositeColumnValueFilter{}
		if err := decode(pf.GetFilter(), cf); err != nil {
			return nil, err
		}
		return newComposite(cf, depth)
	case otsprotocol.FilterType_FT_COLUMN_PAGINATION:
		pg := &otsprotocol.ColumnPaginationFilter{}
		if err := decode(pf.GetFilter(), pg); err != nil {
			return nil, err
		}
		if pg.GetOffset() < 0 || pg.GetLimit() < 0 {
			return nil, errParam("The offset and limit of a column pagination filter must not be negative.")
		}
		return &filter{pagination: pg}, nil
	}
	return nil, errParam("Unknown filter type %d.", pf.GetType())
}

func newSingle(sf *otsprotocol.SingleColumnValueFilter) (*filter, error) {
	if c := sf.GetComparator(); c < otsprotocol.ComparatorType_CT_EQUAL || c > otsprotocol.ComparatorType_CT_LESS_EQUAL {
		return nil, errParam("Unknown comparator %d.", c)
	}
	if !validName(sf.GetColumnName()) {
		return nil, errParam("Invalid column name in a filter: '%s'.", sf.GetColumnName())
	}
	if sf.ValueTransRule != nil {
		return nil, errParam("Value transfer rules (regex filters) are not supported by this simulator.")
	}
	v, err := decodeVariant(sf.GetColumnValue())
	if err != nil {
		return nil, errParam("Invalid column value in the filter on '%s': %v.", sf.GetColumnName(), err)
	}
	return &filter{single: &singleFilter{cmp: sf.GetComparator(), column: sf.GetColumnName(), val: v.clone(),
		filterIfMissing: sf.GetFilterIfMissing(), latestOnly: sf.GetLatestVersionOnly()}}, nil
}

func newComposite(cf *otsprotocol.CompositeColumnValueFilter, depth int) (*filter, error) {
	f := &filter{op: cf.GetCombinator()}
	switch n := len(cf.GetSubFilters()); f.op {
	case otsprotocol.LogicalOperator_LO_NOT:
		if n != 1 {
			return nil, errParam("A NOT filter takes exactly one sub-filter, got %d.", n)
		}
	case otsprotocol.LogicalOperator_LO_AND, otsprotocol.LogicalOperator_LO_OR:
		if n == 0 {
			return nil, errParam("An AND or OR filter needs sub-filters.")
		}
	default:
		return nil, errParam("Unknown logical operator %d.", f.op)
	}
	for _, sub := range cf.GetSubFilters() {
		g, err := fromProto(sub, depth+1)
		if err != nil {
			return nil, err
		}
		if g.pagination != nil {
			return nil, errParam("A column pagination filter cannot be part of a composite filter.")
		}
		f.subs = append(f.subs, g)
	}
	return f, nil
}

// singles counts the single-column filters in f.
func (f *filter) singles() int {
	if f.single != nil {
		return 1
	}
	n := 0
	for _, s := range f.subs {
		n += s.singles()
	}
	return n
}

// columnView is what a filter sees of a row: the versions of each column
// (newest first), by name.
type columnView map[string][]version

// match reports whether the row passes f (a pagination filter passes
// every row; it acts on columns).
func (f *filter) match(v columnView) bool {
	switch {
	case f.single != nil:
		return f.single.match(v[f.single.column])
	case f.pagination != nil:
		return true
	case f.op == otsprotocol.LogicalOperator_LO_NOT:
		return !f.subs[0].match(v)
	case f.op == otsprotocol.LogicalOperator_LO_AND:
		for _, s := range f.subs {
			if !s.match(v) {
				return false
			}
		}
		return true
	default: // OR
		for _, s := range f.subs {
			if s.match(v) {
				return true
			}
		}
		return false
	}
}

func (s *singleFilter) match(vers []version) bool {
	if len(vers) == 0 {
		return !s.filterIfMissing
	}
	if s.latestOnly {
		vers = vers[:1]
	}
	for _, v := range vers {
		if s.compare(v.v) {
			return true
		}
	}
	return false
}

func (s *singleFilter) compare(v value) bool {
	c, ok := compareValues(v, s.val)
	if !ok {
		return s.cmp == otsprotocol.ComparatorType_CT_NOT_EQUAL
	}
	switch s.cmp {
	case otsprotocol.ComparatorType_CT_EQUAL:
		return c == 0
	case otsprotocol.ComparatorType_CT_NOT_EQUAL:
		return c != 0
	case otsprotocol.ComparatorType_CT_GREATER_THAN:
		return c > 0
	case otsprotocol.ComparatorType_CT_GREATER_EQUAL:
		return c >= 0
	case otsprotocol.ComparatorType_CT_LESS_THAN:
		return c < 0
	default:
		return c <= 0
	}
}

// condition is a parsed write Condition.
type condition struct {
	existence otsprotocol.RowExistenceExpectation
	columns   *filter // nil: none
}

func parseCondition(pc *otsprotocol.Condition) (condition, error) {
	c := condition{existence: pc.GetRowExistence()}
	if c.existence < otsprotocol.RowExistenceExpectation_IGNORE || c.existence > otsprotocol.RowExistenceExpectation_EXPECT_NOT_EXIST {
		return c, errParam("Unknown row existence expectation %d.", c.existence)
	}
	if len(pc.GetColumnCondition()) == 0 {
		return c, nil
	}
	f, err := parseFilter(pc.GetColumnCondition())
	if err != nil {
		return c, err
	}
	if f.pagination != nil {
		return c, errParam("A column pagination filter cannot be a condition.")
	}
	if n := f.singles(); n > maxConditionColumns {
		return c, errParam("Too many column conditions: %d, at most %d.", n, maxConditionColumns)
	}
	c.columns = f
	return c, nil
}

// reads reports whether checking the condition reads the row (and costs
// a read capacity unit).
func (c condition) reads() bool {
	return c.existence != otsprotocol.RowExistenceExpectation_IGNORE || c.columns != nil
}

// check evaluates the condition against the current row (nil: none).
func (c condition) check(m *tableMeta, r *storedRow, nowMs int64) error {
	exists := r.exists(m, nowMs)
	switch {
	case c.existence == otsprotocol.RowExistenceExpectation_EXPECT_EXIST && !exists,
		c.existence == otsprotocol.RowExistenceExpectation_EXPECT_NOT_EXIST && exists:
		return errCondition()
	}
	if c.columns != nil && !c.columns.match(visibleColumns(m, r, nowMs)) {
		return errCondition()
	}
	return nil
}

// visibleColumns is every version of the row within the TTL.
func visibleColumns(m *tableMeta, r *storedRow, nowMs int64) columnView {
	v := columnView{}
	if r == nil {
		return v
	}
	for _, c := range r.cols {
		for _, ver := range c.vers {
			if m.visible(ver.ts, nowMs) {
				v[c.name] = append(v[c.name], ver)
			}
		}
	}
	return v
}

// String describes the filter (for logs and tests).
func (f *filter) String() string {
	switch {
	case f.single != nil:
		return fmt.Sprintf("%s %v %s", f.single.column, f.single.cmp, f.single.val.t)
	case f.pagination != nil:
		return fmt.Sprintf("columns[%d:+%d]", f.pagination.GetOffset(), f.pagination.GetLimit())
	}
	return fmt.Sprintf("%v%v", f.op, f.subs)
}
